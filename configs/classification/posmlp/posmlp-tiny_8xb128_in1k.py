# PosMLP-T on ImageNet-1k: the official recipe (Zhicaiwww/PosMLP config/PosMLP_T.yaml, timm
# trainer): 8 GPUs x 128 images, AdamW lr 2e-3 (eps 1e-5), wd 0.067 without decay on biases and
# norms (the token biases, 3-D in the official model, do decay), grad-norm clip 1, 300 epochs
# with 10 linear warm-up epochs from 1e-5 and cosine to 1e-6, then 10 cool-down epochs at 1e-6,
# label smoothing 0.1, Mixup 0.5 / CutMix 1.0, RandAugment rand-m6-n3-mstd1.0-inc1, no random
# erasing, drop path 0.1, dropout 0.02333 after every block's projection, model EMA 0.99992;
# evaluation with crop_pct 0.9 (bicubic resize of the short side to 248, centre crop 224). The
# official runs use AMP: add --amp.
# Approximations: timm's cosine spans epochs 0-300 under the warm-up, here epochs 10-300; timm
# also drops out 2.3% of the pooled features before the head, mmpretrain's linear head does not;
# timm's 'random' train interpolation is bicubic here.
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

model = dict(
    # the official classifier normalises the last map (norm3), then averages
    backbone=dict(_delete_=True, type='vmlp_mm.PosMLP', arch='tiny', drop_path_rate=0.1,
                  drop_rate=0.02333, out_indices=-1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(in_channels=768),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.5), dict(type='CutMix', alpha=1.0)]))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, aspect_ratio_range=(0.67, 1.5), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=3, total_level=10,
         magnitude_level=6, magnitude_std=1.0,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=248, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=2e-3, weight_decay=0.067, eps=1e-5),
    clip_grad=dict(max_norm=1.0),
    paramwise_cfg=dict(custom_keys={'.token_bias': dict(decay_mult=1.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=5e-3, by_epoch=True, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=10, end=300),
]
train_cfg = dict(max_epochs=310)
auto_scale_lr = dict(base_batch_size=1024)
custom_hooks = [dict(type='EMAHook', momentum=8e-5, priority='ABOVE_NORMAL')]

# restated without the _scope_ tag mmengine adds to dicts inherited through 'mmpretrain::':
# mmpretrain's browse_dataset.py passes the dict to UniversalVisualizer(**cfg.visualizer)
visualizer = dict(_delete_=True, type='UniversalVisualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
