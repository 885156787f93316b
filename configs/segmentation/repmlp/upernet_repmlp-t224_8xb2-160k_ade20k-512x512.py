# UperNet + RepMLPNet-T224 on ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images: mmseg's
# Swin UperNet recipe (AdamW lr 6e-5, wd 0.01 without decay on norms, 1500 linear warm-up
# iterations, poly decay). The RepMLP repo has no segmentation recipe; its README advises
# finetuning the training-time model and re-parameterising afterwards
# (tools/model_converters/reparameterize.py). The partition FCs keep their pretrained size: the
# 128x128 stride-4 map of a 512 crop is padded to 3x3 windows of 56 in stage 0.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

# the ImageNet classifier from tools/train.py or tools/model_converters/repmlp_to_vmlp.py
checkpoint_file = 'checkpoints/repmlp-t224_in1k.pth'
model = dict(
    pretrained=None,  # EncoderDecoder would push it into the backbone; init_cfg loads instead
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.RepMLPNet',
        arch='t224',
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
# every norm of RepMLPNet is a BatchNorm: synchronise them over the 8 x 2 images, as the heads
sync_bn = 'torch'
