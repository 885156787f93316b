# CPU demo of the ActiveMLP ImageNet recipe on the handwritten digits: the MS-MLP digits demo
# (data, shrunk schedule) with the ActiveMLP classifier of
# configs/classification/activemlp (norm-then-pool through a GAP neck, no decay on the PEGs, EMA).
_base_ = './msmlp-nano_demo-digits.py'

model = dict(
    backbone=dict(_delete_=True, type='vmlp_mm.ActiveMLP', arch='nano', out_indices=-1,
                  gap_before_final_norm=False),
    neck=dict(_delete_=True, type='GlobalAveragePooling'))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.peg.': dict(decay_mult=0.0)}))
# the official 0.99996 EMA only settles over thousands of iterations; the demo runs ~360
custom_hooks = [dict(type='EMAHook', momentum=1e-2, priority='ABOVE_NORMAL')]
