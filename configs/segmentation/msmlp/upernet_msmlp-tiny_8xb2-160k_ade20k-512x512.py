# UperNet + MS-MLP-T on ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images: the Swin-T
# UperNet recipe of mmseg (AdamW lr 6e-5, wd 0.01 without decay on norms and layer scales,
# 1500 linear warm-up iterations, poly decay). MS-MLP has no official segmentation recipe.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

# the ImageNet classifier from tools/train.py or tools/model_converters/msmlp_to_vmlp.py
checkpoint_file = 'checkpoints/msmlp-tiny_in1k.pth'
model = dict(
    pretrained=None,  # EncoderDecoder would push it into the backbone; init_cfg loads instead
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.MSMLP',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'gamma': dict(decay_mult=0.)}))
