# RepMLPNet-T256 on ImageNet-1k: the official recipe of repmlp-t224_8xb32_in1k.py at 256x256
# (the README's DATA.IMG_SIZE 256): 256 crops, evaluation after resizing the short side to 256.
_base_ = './repmlp-t224_8xb32_in1k.py'

img_size = 256
model = dict(backbone=dict(arch='t256'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=15, magnitude_std='inf',
         hparams=dict(pad_val=[104, 116, 124], interpolation='bilinear')),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short', backend='pillow',
         interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
