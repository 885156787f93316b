_base_ = './upernet_activemlp-tiny_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/activemlp-large_in1k.pth'
model = dict(
    backbone=dict(arch='large', init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
