# RepMLPNet-D256 on ImageNet-1k: the official 256x256 recipe of repmlp-t256_8xb32_in1k.py.
_base_ = './repmlp-t256_8xb32_in1k.py'

model = dict(backbone=dict(arch='d256'), head=dict(in_channels=640))
