# MS-MLP-T on ImageNet-1k: the official recipe (JegZheng/MS-MLP, Swin codebase), which is
# mmpretrain's Swin recipe: 8 GPUs x 128 images, AdamW lr 5e-4 * 1024 / 512, wd 0.05 with no decay
# on 1-D parameters, 300 epochs with 20 warm-up, cosine to 1e-5, grad-norm clip 5, label smoothing
# 0.1, Mixup 0.8 / CutMix 1.0, RandAugment m9-mstd0.5, random erasing 0.25, bicubic 224 crops,
# evaluation at 224 after a bicubic resize to 256.
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='vmlp_mm.MSMLP', arch='tiny', drop_path_rate=0.1),
    # the backbone pools and normalises itself, exactly as the official model
    neck=None,
    head=dict(in_channels=768))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader
optim_wrapper = dict(clip_grad=dict(max_norm=5.0))

# restated without the _scope_ tag mmengine adds to dicts inherited through 'mmpretrain::':
# mmpretrain's browse_dataset.py passes the dict to UniversalVisualizer(**cfg.visualizer)
visualizer = dict(_delete_=True, type='UniversalVisualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
