# UperNet + Strip-MLP-T on ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images: mmseg's
# Swin-T UperNet recipe (AdamW lr 6e-5, wd 0.01 without decay on norms, 1500 linear warm-up
# iterations, poly decay). Strip-MLP has no official segmentation recipe. The strip FCs keep their
# pretrained size (56/28/14/7): a 512 crop's stride-4 map (128x128) runs in 3x3 windows of 56
# (padded), the rest of each block on the whole map.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

# the ImageNet classifier from tools/train.py or tools/model_converters/stripmlp_to_vmlp.py
checkpoint_file = 'checkpoints/stripmlp-tiny_in1k.pth'
model = dict(
    pretrained=None,  # EncoderDecoder would push it into the backbone; init_cfg loads instead
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.StripMLP',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(in_channels=[80, 160, 320, 640]),
    auxiliary_head=dict(in_channels=320))
# Strip-MLP's blocks normalise with BatchNorm: synchronise them over the 8 x 2 images
sync_bn = 'torch'
