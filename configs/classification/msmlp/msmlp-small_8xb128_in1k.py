# MS-MLP-S: the tiny recipe with the official drop path 0.4.
_base_ = './msmlp-tiny_8xb128_in1k.py'

model = dict(backbone=dict(arch='small', drop_path_rate=0.4))
