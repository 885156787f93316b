# Mask R-CNN + FPN + ActiveMLP-T on COCO, 1x schedule (12 epochs, 8 GPUs x 2 images): mmdet's
# Swin-T recipe (AdamW lr 1e-4, wd 0.05 without decay on norms and PEGs). The ActiveMLP repo has
# no detection recipe.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
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
