# UperNet + PosMLP-S on ADE20K: the recipe of upernet_posmlp-tiny_8xb2-160k_ade20k-512x512.py.
_base_ = './upernet_posmlp-tiny_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/posmlp-small_in1k.pth'
model = dict(
    backbone=dict(arch='small', init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
