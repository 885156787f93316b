_base_ = './upernet_msmlp-tiny_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/msmlp-base_in1k.pth'
model = dict(
    backbone=dict(arch='base', init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
