# UperNet + RepMLPNet-D256 on ADE20K: the recipe of upernet_repmlp-t224_8xb2-160k_ade20k-512x512.py.
_base_ = './upernet_repmlp-t224_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/repmlp-d256_in1k.pth'
model = dict(
    backbone=dict(arch='d256', init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[80, 160, 320, 640]),
    auxiliary_head=dict(in_channels=320))
