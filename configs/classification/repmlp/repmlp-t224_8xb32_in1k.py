# RepMLPNet-T224 on ImageNet-1k: the official recipe (DingXiaoH/RepMLP README "train from scratch",
# Swin codebase): 8 GPUs x 32 images, AdamW lr 1e-3 * 256 / 256, wd 0.1 with no decay on 1-D
# parameters and biases, 100 epochs with 10 linear warm-up epochs from 5e-7, cosine to 0,
# grad-norm clip 5, label smoothing 0.1, Mixup 0.4 / CutMix 1.0, bilinear random-resized crops
# with the "raug15" RandAugment (2 ops, magnitude uniform in [0, 15)), no random erasing, no EMA;
# evaluation: resize the short side to 224, centre crop 224.
# Approximation: raug15 draws from timm's non-increasing op list plus Cutout; mmpretrain's closest
# preset is 'timm_increasing'.
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

img_size = 224
model = dict(
    # the official classifier: BatchNorm on the last map (head_norm = norm3), then average
    backbone=dict(_delete_=True, type='vmlp_mm.RepMLPNet', arch='t224', out_indices=-1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(in_channels=512),
    init_cfg=None,  # PyTorch's default initialisation everywhere, as the official model
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.4), dict(type='CutMix', alpha=1.0)]))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=15, magnitude_std='inf',
         hparams=dict(pad_val=[104, 116, 124], interpolation='bilinear')),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short', backend='pillow',
         interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.1), clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=5e-4, by_epoch=True, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=True, begin=10),
]
train_cfg = dict(max_epochs=100)
auto_scale_lr = dict(base_batch_size=256)

# restated without the _scope_ tag mmengine adds to dicts inherited through 'mmpretrain::':
# mmpretrain's browse_dataset.py passes the dict to UniversalVisualizer(**cfg.visualizer)
visualizer = dict(_delete_=True, type='UniversalVisualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
