# Strip-MLP-T on CIFAR-10 as the Strip-MLP paper reports it: the ImageNet recipe of
# stripmlp-tiny_8xb128_in1k.py (the official configs/smlp_*_cifa10.yaml only change the data and
# NUM_CLASSES) with the 32x32 images upsampled through the same 224 pipeline, trained from
# scratch. CIFAR-10 from local files: data/cifar10/cifar-10-batches-py (python version). To
# finetune from ImageNet instead: --cfg-options model.backbone.init_cfg.type=Pretrained
# model.backbone.init_cfg.checkpoint=CKPT model.backbone.init_cfg.prefix=backbone.
_base_ = './stripmlp-tiny_8xb128_in1k.py'

num_classes = 10
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [  # the ImageNet augmentation, on in-memory images
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=bgr_mean, fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
dataset = dict(type='CIFAR10', data_root='data/cifar10', download=False)
train_dataloader = dict(dataset=dict(_delete_=True, split='train', pipeline=train_pipeline,
                                     **dataset))
val_dataloader = dict(dataset=dict(_delete_=True, split='test', pipeline=test_pipeline,
                                   **dataset))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
