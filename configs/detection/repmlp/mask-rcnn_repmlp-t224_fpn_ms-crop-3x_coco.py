# Mask R-CNN + FPN + RepMLPNet-T224 on COCO, 3x schedule (36 epochs) with multi-scale training and
# random crops: mmdet's Swin-T 3x recipe with the backbone of the 1x config.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

checkpoint_file = 'checkpoints/repmlp-t224_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.RepMLPNet',
        arch='t224',
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))
sync_bn = 'torch'
