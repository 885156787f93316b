# Mask R-CNN + FPN + ActiveMLP-T on COCO, 3x schedule (36 epochs) with multi-scale training and
# random crops: mmdet's Swin-T 3x recipe with the backbone of the 1x config.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

checkpoint_file = 'checkpoints/activemlp-tiny_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.ActiveMLP',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 320, 512]))

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.peg.': dict(decay_mult=0.)}))
