# Mask R-CNN + FPN + PosMLP-T on COCO, 1x schedule (12 epochs, 8 GPUs x 2 images): mmdet's Swin-T
# recipe (AdamW lr 1e-4, wd 0.05 without decay on norms). PosMLP has no detection recipe. With the
# default dense_policy='global', stages 1-2 keep 14x14 windows and stages 3-4 stay global up to
# max_window_tokens (an 800x1216 input: stage 3 in 4 windows of 25x38; README, resolution
# policies).
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

checkpoint_file = 'checkpoints/posmlp-tiny_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.PosMLP',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    neck=dict(in_channels=[96, 192, 384, 768]))
# BatchNorms synchronised over the 8 x 2 images
sync_bn = 'torch'
