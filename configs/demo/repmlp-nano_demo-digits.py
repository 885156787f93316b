# CPU demo of the RepMLPNet ImageNet recipe on the handwritten digits: the MS-MLP digits demo
# (data, shrunk schedule) with the RepMLPNet classifier of configs/classification/repmlp
# (BatchNorm-then-pool through a GAP neck). The nano arch is native at 64x64, the digits' size.
_base_ = './msmlp-nano_demo-digits.py'

model = dict(
    backbone=dict(_delete_=True, type='vmlp_mm.RepMLPNet', arch='nano', out_indices=-1),
    neck=dict(_delete_=True, type='GlobalAveragePooling'))
