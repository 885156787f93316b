"""The CPU demo: pretrain a nano backbone on real digits, finetune UperNet and Mask R-CNN from it.

    python tools/run_demo.py [--model msmlp|activemlp|repmlp|posmlp|stripmlp|...]
        [--work-dir work_dirs/demo]

Makes the demo data (tools/make_demo_data.py), trains configs/demo/* one after another with
tools/train.py -- the segmentation and detection backbones initialised from the classification
checkpoint through ``init_cfg=Pretrained`` -- evaluates each with tools/test.py, evaluates the same
models untrained as a baseline, and prints a table of the metrics.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

from vmlp_mm.families import FAMILIES, get_family

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAGES = [  # task, metrics to report
    ('classification', ['accuracy/top1']),
    ('segmentation', ['mIoU', 'aAcc']),
    ('detection', ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50']),
]


def run(cmd, log_file):
    """Run a tool, its output going to log_file and its progress bars (``--progress``) to this
    process's stderr; on failure show the end of the log and stop."""
    progress_fd = os.dup(sys.stderr.fileno())
    try:
        with open(log_file, 'w') as log:
            result = subprocess.run([sys.executable] + cmd, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT, pass_fds=(progress_fd,),
                                    env=dict(os.environ, VMLP_PROGRESS_FD=str(progress_fd)))
    finally:
        os.close(progress_fd)
    if result.returncode != 0:
        with open(log_file) as log:
            tail = log.read()[-3000:]
        sys.exit(f'{" ".join(cmd)} failed (log: {log_file}):\n{tail}')


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def evaluate_untrained(config, out_file):
    """Test a config's model as constructed (random init, no pretrained weights)."""
    from mmengine.config import Config

    from vmlp_mm.engine import CrashSafeRunner
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.work_dir = osp.join(osp.dirname(out_file), 'untrained')
    cfg.load_from = None
    cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='vmlp_mm.ProgressBarHook')]
    metrics = CrashSafeRunner.from_cfg(cfg).test()
    with open(out_file, 'w') as f:
        json.dump({k: float(v) for k, v in metrics.items()}, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', choices=list(FAMILIES), default='msmlp',
                        help='backbone to demo')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='logs and checkpoints go to <work-dir>/<model>/<task>')
    parser.add_argument('--untrained', nargs=2, metavar=('CONFIG', 'OUT'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.untrained:
        return evaluate_untrained(*args.untrained)

    work_root = osp.abspath(osp.join(ROOT, args.work_dir, args.model))
    os.makedirs(work_root, exist_ok=True)
    print('[demo] making the demo data (data/demo) ...', flush=True)
    run(['tools/make_demo_data.py'], osp.join(work_root, 'make_demo_data.log'))
    print(f'[demo] {args.model}: logs and checkpoints in {work_root}', flush=True)
    rows, cls_checkpoint = [], None
    for task, keys in STAGES:
        config = get_family(args.model).demo_config(task)
        start = time.time()
        work_dir = osp.join(work_root, task)
        print(f'[demo] {task}: training {config} ...', flush=True)
        # --force: a rerun of the demo starts over (the earlier checkpoints are moved aside into
        # work_dir/replaced-<time>, its metrics files replaced)
        cmd = ['tools/train.py', config, '--work-dir', work_dir, '--progress', '--force']
        if cls_checkpoint is not None:
            cmd += ['--cfg-options', f'model.backbone.init_cfg.checkpoint={cls_checkpoint}']
        run(cmd, osp.join(work_root, f'{task}_train.log'))
        checkpoint = last_checkpoint(work_dir)
        if task == 'classification':
            cls_checkpoint = checkpoint
        trained_file = osp.join(work_root, f'{task}_metrics.json')
        print(f'[demo] {task}: evaluating the trained model ...', flush=True)
        run(['tools/test.py', config, checkpoint, '--work-dir', osp.join(work_dir, 'test'),
             '--out-metrics', trained_file, '--progress', '--force'],
            osp.join(work_root, f'{task}_test.log'))
        untrained_file = osp.join(work_root, f'{task}_untrained_metrics.json')
        print(f'[demo] {task}: evaluating the untrained model ...', flush=True)
        run(['tools/run_demo.py', '--untrained', config, untrained_file],
            osp.join(work_root, f'{task}_untrained.log'))
        with open(trained_file) as f:
            trained = json.load(f)
        with open(untrained_file) as f:
            untrained = json.load(f)
        elapsed = time.time() - start
        print(f'[demo] {task}: done in {elapsed:.0f}s, checkpoint {checkpoint}', flush=True)
        rows += [(task, key, trained[key], untrained[key], elapsed) for key in keys]

    print('\n| task | metric | trained | untrained | time (s) |\n|---|---|---|---|---|')
    for task, key, trained, untrained, elapsed in rows:
        print(f'| {task} | {key} | {trained:.3f} | {untrained:.3f} | {elapsed:.0f} |')
    with open(osp.join(work_root, 'summary.json'), 'w') as f:
        json.dump([dict(task=t, metric=k, trained=a, untrained=b) for t, k, a, b, _ in rows], f,
                  indent=1)


if __name__ == '__main__':
    main()
