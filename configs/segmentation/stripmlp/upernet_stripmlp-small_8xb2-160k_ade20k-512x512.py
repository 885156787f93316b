# UperNet + Strip-MLP-small on ADE20K: the recipe of
# upernet_stripmlp-tiny_8xb2-160k_ade20k-512x512.py.
_base_ = './upernet_stripmlp-tiny_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/stripmlp-small_in1k.pth'
model = dict(
    backbone=dict(arch='small', init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
