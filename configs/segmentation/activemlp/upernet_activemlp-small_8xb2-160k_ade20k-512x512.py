_base_ = './upernet_activemlp-tiny_8xb2-160k_ade20k-512x512.py'

checkpoint_file = 'checkpoints/activemlp-small_in1k.pth'
model = dict(
    backbone=dict(arch='small', init_cfg=dict(checkpoint=checkpoint_file)))
