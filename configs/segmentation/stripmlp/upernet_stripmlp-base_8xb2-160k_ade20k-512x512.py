# UperNet + Strip-MLP-base on ADE20K: the recipe of
# upernet_stripmlp-tiny_8xb2-160k_ade20k-512x512.py.
_base_ = './upernet_stripmlp-tiny_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/stripmlp-base_in1k.pth'
model = dict(
    backbone=dict(arch='base', init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=[112, 224, 448, 896]),
    auxiliary_head=dict(in_channels=448))
