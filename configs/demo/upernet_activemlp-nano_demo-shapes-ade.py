# CPU demo of the ActiveMLP ADE20K recipe: the MS-MLP shapes demo (data, narrow heads, plain BN,
# shrunk schedule) with an ActiveMLP-nano backbone initialised from
# configs/demo/activemlp-nano_demo-digits.py.
_base_ = './upernet_msmlp-nano_demo-shapes-ade.py'

# written by tools/run_demo.py --model activemlp
checkpoint_file = 'work_dirs/demo/activemlp/classification/epoch_8.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.ActiveMLP',
        arch='nano',
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.',
                      missing_ok=True)))
