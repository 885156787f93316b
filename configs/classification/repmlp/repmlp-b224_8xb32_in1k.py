# RepMLPNet-B224 on ImageNet-1k: the official recipe of repmlp-t224_8xb32_in1k.py.
_base_ = './repmlp-t224_8xb32_in1k.py'

model = dict(backbone=dict(arch='b224'), head=dict(in_channels=768))
