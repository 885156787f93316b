# UperNet + RepMLPNet-T256 on ADE20K: the recipe of upernet_repmlp-t224_8xb2-160k_ade20k-512x512.py.
_base_ = './upernet_repmlp-t224_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/repmlp-t256_in1k.pth'
model = dict(
    backbone=dict(arch='t256', init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
