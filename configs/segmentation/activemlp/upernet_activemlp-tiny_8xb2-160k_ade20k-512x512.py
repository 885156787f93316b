# UperNet + ActiveMLP-T on ADE20K, 512x512 crops, 160k iterations, 8 GPUs x 2 images: the
# official segmentation recipe (segmentation/configs/activemlp/active_large_ade20k_upernet_160k.py,
# which is mmseg's Swin UperNet recipe: AdamW lr 6e-5, wd 0.01 without decay on norms, 1500 linear
# warm-up iterations, poly decay) with its drop path 0.2.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['vmlp_mm', 'vmlp_mm.mmengine_loader'], allow_failed_imports=False)

# the ImageNet classifier from tools/train.py or tools/model_converters/activemlp_to_vmlp.py
checkpoint_file = 'checkpoints/activemlp-tiny_in1k.pth'
model = dict(
    pretrained=None,  # EncoderDecoder would push it into the backbone; init_cfg loads instead
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.ActiveMLP',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 320, 512]),
    auxiliary_head=dict(in_channels=320))
