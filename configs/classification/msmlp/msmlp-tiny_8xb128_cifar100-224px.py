# MS-MLP-T on cifar100: the data of
# configs/classification/stripmlp/stripmlp-tiny_8xb128_cifar100-224px.py
# with the MS-MLP-T classifier; both papers' ImageNet recipes are mmpretrain's Swin recipe, so
# only the model differs (drop path 0.1 on a linear schedule, grad-norm clip 5 as there).
_base_ = '../stripmlp/stripmlp-tiny_8xb128_cifar100-224px.py'

model = dict(
    backbone=dict(_delete_=True, type='vmlp_mm.MSMLP', arch='tiny', drop_path_rate=0.1),
    # the backbone pools and normalises itself, exactly as the official model
    neck=None,
    head=dict(in_channels=768),
    init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
              dict(type='Constant', layer='LayerNorm', val=1., bias=0.)])
