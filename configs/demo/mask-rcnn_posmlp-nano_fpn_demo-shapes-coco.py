# CPU demo of the PosMLP COCO recipe: the MS-MLP shapes demo (data, 64-wide FPN and heads,
# shrunk schedule) with a PosMLP-nano backbone initialised from
# configs/demo/posmlp-nano_demo-digits.py (images of any aspect: the windows pad and crop).
_base_ = './mask-rcnn_msmlp-nano_fpn_demo-shapes-coco.py'

# written by tools/run_demo.py --model posmlp
checkpoint_file = 'work_dirs/demo/posmlp/classification/epoch_8.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='vmlp_mm.PosMLP',
        arch='nano',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.',
                      missing_ok=True)))
