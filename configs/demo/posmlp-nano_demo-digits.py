# CPU demo of the PosMLP ImageNet recipe on the handwritten digits: the MS-MLP digits demo
# (data, shrunk schedule) with the PosMLP classifier of configs/classification/posmlp
# (norm-then-pool through a GAP neck).
_base_ = './msmlp-nano_demo-digits.py'

model = dict(
    backbone=dict(_delete_=True, type='vmlp_mm.PosMLP', arch='nano', out_indices=-1,
                  drop_path_rate=0.),
    neck=dict(_delete_=True, type='GlobalAveragePooling'))
