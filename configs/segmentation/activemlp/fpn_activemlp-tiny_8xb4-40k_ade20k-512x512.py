# Semantic FPN + ActiveMLP-T on ADE20K, 512x512 crops, 40k iterations, 8 GPUs x 4 images: the
# PVT/PoolFormer Semantic FPN recipe the ActiveMLP paper reports (AdamW lr 2e-4, wd 1e-4, poly
# 0.9), inherited from mmseg's PoolFormer config.
_base_ = 'mmseg::poolformer/fpn_poolformer_s12_8xb4-40k_ade20k-512x512.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

checkpoint_file = 'checkpoints/activemlp-tiny_in1k.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.ActiveMLP',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 320, 512]))
