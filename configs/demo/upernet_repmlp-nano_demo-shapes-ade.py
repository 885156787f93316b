# CPU demo of the RepMLPNet ADE20K recipe: the MS-MLP shapes demo (data, narrow heads, plain BN,
# shrunk schedule) with a RepMLPNet-nano backbone initialised from
# configs/demo/repmlp-nano_demo-digits.py; its 64x64 partitions tile the 128x128 crops 2x2.
_base_ = './upernet_msmlp-nano_demo-shapes-ade.py'

# written by tools/run_demo.py --model repmlp
checkpoint_file = 'work_dirs/demo/repmlp/classification/epoch_8.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.RepMLPNet',
        arch='nano',
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.',
                      missing_ok=True)))
