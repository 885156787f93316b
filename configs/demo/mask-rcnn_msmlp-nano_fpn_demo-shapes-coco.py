# CPU demo of the COCO recipe: Mask R-CNN + FPN + MS-MLP-nano on the rendered shapes in COCO
# layout (tools/make_demo_data.py), the backbone initialised from the digits classifier
# (configs/demo/msmlp-nano_demo-digits.py). Shrunk to minutes on 2 cores: 128x128 images, 64-wide
# FPN and heads, a short schedule with a higher lr.
_base_ = '../detection/msmlp/mask-rcnn_msmlp-tiny_fpn_1x_coco.py'

data_root = 'data/demo/shapes_coco/'
checkpoint_file = 'work_dirs/demo/msmlp/classification/epoch_8.pth'  # written by tools/run_demo.py
num_classes = 3
width = 64
model = dict(
    backbone=dict(arch='nano', drop_path_rate=0.,
                  init_cfg=dict(checkpoint=checkpoint_file, missing_ok=True)),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, fc_out_channels=256, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=num_classes)),
    # a few shapes per image need far fewer proposals and RoIs than COCO
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=20)))

metainfo = dict(classes=('square', 'circle', 'triangle'),
                palette=[(220, 60, 60), (60, 180, 75), (70, 90, 230)])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=False,
    dataset=dict(_delete_=True, type='CocoDataset', metainfo=metainfo, data_root=data_root,
                 ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=True),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=False,
    dataset=dict(_delete_=True, type='CocoDataset', metainfo=metainfo, data_root=data_root,
                 ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img='val2017/'), test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = 8
optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=60),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[7], gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
