# UperNet + PosMLP-T on ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images: mmseg's Swin-T
# UperNet recipe (AdamW lr 6e-5, wd 0.01 without decay on norms, 1500 linear warm-up iterations,
# poly decay, drop path 0.3). PosMLP has no official segmentation recipe. The backbone's default
# dense_policy='global' keeps the structure of pretraining at 512x512: stages 1-2 mix in 14x14
# windows (ragged at the map's edge), stages 3-4 -- global at 224 -- cover their whole 32x32 and
# 16x16 maps (README, resolution policies).
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

# the ImageNet classifier from tools/train.py or tools/model_converters/posmlp_to_vmlp.py
checkpoint_file = 'checkpoints/posmlp-tiny_in1k.pth'
model = dict(
    pretrained=None,  # EncoderDecoder would push it into the backbone; init_cfg loads instead
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.PosMLP',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
# the stem's three BatchNorms: synchronised over the 8 x 2 images, as the heads
sync_bn = 'torch'
