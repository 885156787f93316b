# CPU demo of the StripMLP ADE20K recipe: the MS-MLP shapes demo (data, narrow heads, plain BN,
# shrunk schedule) with a StripMLP-nano backbone initialised from
# configs/demo/stripmlp-nano_demo-digits.py.
_base_ = './upernet_msmlp-nano_demo-shapes-ade.py'

# written by tools/run_demo.py --model stripmlp
checkpoint_file = 'work_dirs/demo/stripmlp/classification/epoch_8.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.StripMLP',
        arch='nano',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.',
                      missing_ok=True)))
