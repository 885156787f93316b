# Strip-MLP-tiny_light on ImageNet-1k: the official recipe of stripmlp-tiny_8xb128_in1k.py.
_base_ = './stripmlp-tiny_8xb128_in1k.py'

model = dict(backbone=dict(arch='tiny_light'), head=dict(in_channels=640))
