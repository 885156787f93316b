# ActiveMLP-base: the tiny recipe with this arch.
_base_ = './activemlp-tiny_8xb128_in1k.py'

model = dict(backbone=dict(arch='base'))
