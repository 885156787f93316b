# CPU demo of the StripMLP ImageNet recipe on the handwritten digits: the MS-MLP digits demo
# (data, shrunk schedule) with the StripMLP classifier of configs/classification/stripmlp
# (norm-then-pool through a GAP neck).
_base_ = './msmlp-nano_demo-digits.py'

model = dict(
    backbone=dict(_delete_=True, type='vmlp_mm.StripMLP', arch='nano', out_indices=-1,
                  drop_path_rate=0.),
    neck=dict(_delete_=True, type='GlobalAveragePooling'))
