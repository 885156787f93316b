# Mask R-CNN + FPN + MS-MLP-T on COCO, 1x schedule (12 epochs, 8 GPUs x 2 images): mmdet's Swin-T
# recipe (AdamW lr 1e-4, wd 0.05 without decay on norms and layer scales). MS-MLP has no official
# detection recipe.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

# the ImageNet classifier from tools/train.py or tools/model_converters/msmlp_to_vmlp.py
checkpoint_file = 'checkpoints/msmlp-tiny_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.MSMLP',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'gamma': dict(decay_mult=0.)}))
