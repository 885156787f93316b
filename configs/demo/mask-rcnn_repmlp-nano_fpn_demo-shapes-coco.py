# CPU demo of the RepMLPNet COCO recipe: the MS-MLP shapes demo (data, 64-wide FPN and heads,
# shrunk schedule) with a RepMLPNet-nano backbone initialised from
# configs/demo/repmlp-nano_demo-digits.py (images of any aspect: the partitions pad and crop).
_base_ = './mask-rcnn_msmlp-nano_fpn_demo-shapes-coco.py'

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
