# Strip-MLP-small on ImageNet-1k: the official recipe of stripmlp-tiny_8xb128_in1k.py.
_base_ = './stripmlp-tiny_8xb128_in1k.py'

model = dict(backbone=dict(arch='small'), head=dict(in_channels=768))
