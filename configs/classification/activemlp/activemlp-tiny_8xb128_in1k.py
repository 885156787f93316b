# ActiveMLP-T on ImageNet-1k: the official recipe (microsoft/ActiveMLP main.py, DeiT-style):
# 8 GPUs x 128 images, AdamW lr 5e-4 * 1024 / 512, wd 0.05 without decay on 1-D parameters and
# the PEGs (the official no_weight_decay), 300 epochs with 5 warm-up epochs from 1e-6, cosine to
# 1e-5, no gradient clipping, label smoothing 0.1, Mixup 0.8 / CutMix 1.0, RandAugment
# m9-mstd0.5, random erasing 0.25, bicubic 224 crops, drop path 0.1, and model EMA 0.99996 (the
# EMA weights are the ones evaluated). The official runs use AMP: add --amp.
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

model = dict(
    # the official classifier normalises the last map, then averages it (the GAP neck)
    backbone=dict(_delete_=True, type='vmlp_mm.ActiveMLP', arch='tiny', drop_path_rate=0.1,
                  out_indices=-1, gap_before_final_norm=False),
    head=dict(in_channels=512))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.peg.': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5),
]
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]

# restated without the _scope_ tag mmengine adds to dicts inherited through 'mmpretrain::':
# mmpretrain's browse_dataset.py passes the dict to UniversalVisualizer(**cfg.visualizer)
visualizer = dict(_delete_=True, type='UniversalVisualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
