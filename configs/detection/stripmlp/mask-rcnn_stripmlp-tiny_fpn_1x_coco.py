# Mask R-CNN + FPN + Strip-MLP-T on COCO, 1x schedule (12 epochs, 8 GPUs x 2 images): mmdet's Swin-T
# recipe (AdamW lr 1e-4, wd 0.05 without decay on norms). Strip-MLP has no detection recipe; the
# strip FCs run in windows of their pretrained size.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

checkpoint_file = 'checkpoints/stripmlp-tiny_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.StripMLP',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    neck=dict(in_channels=[80, 160, 320, 640]))
# BatchNorms synchronised over the 8 x 2 images
sync_bn = 'torch'
