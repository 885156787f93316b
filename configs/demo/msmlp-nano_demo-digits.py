# CPU demo of the ImageNet recipe: MS-MLP-nano on the handwritten digits (64x64, 10 classes) the
# repository makes (tools/make_demo_data.py). Same model/optimizer/schedule types as
# configs/classification/msmlp, shrunk to minutes on 2 cores.
_base_ = '../classification/msmlp/msmlp-tiny_8xb128_in1k.py'

data_root = 'data/demo/digits'
model = dict(
    backbone=dict(arch='nano', drop_path_rate=0.),
    head=dict(num_classes=10, in_channels=256),
    train_cfg=dict(augments=None))
data_preprocessor = dict(num_classes=10)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.7, 1.0), backend='pillow'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1),
]
train_cfg = dict(max_epochs=8, val_interval=8)
auto_scale_lr = dict(enable=False)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=4, max_keep_ckpts=2))
