# CPU demo of the ActiveMLP COCO recipe: the MS-MLP shapes demo (data, 64-wide FPN and heads,
# shrunk schedule) with an ActiveMLP-nano backbone initialised from
# configs/demo/activemlp-nano_demo-digits.py.
_base_ = './mask-rcnn_msmlp-nano_fpn_demo-shapes-coco.py'

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
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.peg.': dict(decay_mult=0.)}))
