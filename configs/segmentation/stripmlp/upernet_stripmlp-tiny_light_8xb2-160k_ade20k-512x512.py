# UperNet + Strip-MLP-tiny_light on ADE20K: the recipe of
# upernet_stripmlp-tiny_8xb2-160k_ade20k-512x512.py.
_base_ = './upernet_stripmlp-tiny_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/stripmlp-tiny_light_in1k.pth'
model = dict(
    backbone=dict(arch='tiny_light', init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[80, 160, 320, 640]),
    auxiliary_head=dict(in_channels=320))
