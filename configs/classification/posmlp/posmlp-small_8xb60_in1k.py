# PosMLP-S on ImageNet-1k: the recipe of posmlp-tiny_8xb128_in1k.py with the official
# PosMLP_S.yaml differences: 60 images per GPU, lr 1e-3, no cool-down epochs.
_base_ = './posmlp-tiny_8xb128_in1k.py'

model = dict(backbone=dict(arch='small'), head=dict(in_channels=1024))
train_dataloader = dict(batch_size=60)
val_dataloader = dict(batch_size=60)
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=10, end=300),
]
train_cfg = dict(max_epochs=300)
auto_scale_lr = dict(base_batch_size=480)
