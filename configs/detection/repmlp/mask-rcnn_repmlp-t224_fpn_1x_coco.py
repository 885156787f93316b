# Mask R-CNN + FPN + RepMLPNet-T224 on COCO, 1x schedule (12 epochs, 8 GPUs x 2 images): mmdet's
# Swin-T recipe (AdamW lr 1e-4, wd 0.05 without decay on norms). The RepMLP repo has no detection
# recipe. The partition FCs keep their pretrained size (56 in stage 0: an 800x1216 image's
# 200x304 stride-4 map is padded to 4x6 windows).
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
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
# every norm of RepMLPNet is a BatchNorm: synchronise them over the 8 x 2 images
sync_bn = 'torch'
