"""Train a vmlp_mm config of any task (classification, segmentation, detection).

The task's library (mmpretrain, mmseg, mmdet) comes from the config's ``default_scope``; the
mmengine Runner does the rest. Flags follow the OpenMMLab train scripts.
"""
import argparse
import os

import vmlp_mm  # noqa: F401  (before the upstream packages: quiets their import warnings)

# isort: split
import torch
from mmengine.config import Config

from vmlp_mm.engine import CrashSafeRunner
from vmlp_mm.engine.data_checks import SKIP_ENV
from vmlp_mm.utils.checkpoint import require_checkpoint_file
from vmlp_mm.utils.cli import run_main
from vmlp_mm.utils.launch import add_cfg_options_argument, destroy_distributed, load_config
from vmlp_mm.utils.outputs import claim_work_dir


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from this checkpoint, or, given without a path, from the '
                        'newest intact checkpoint in the work dir (damaged ones are skipped, '
                        'with a warning)')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision: on a GPU float16 autocast with dynamic '
                        'loss scaling (AmpOptimWrapper), on CPU bfloat16 autocast without loss '
                        'scaling (vmlp_mm.CPUAmpOptimWrapper)')
    parser.add_argument('--amp-dtype', choices=['float16', 'bfloat16'],
                        help='autocast dtype of --amp (GPU default float16; CPU: bfloat16 only)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual total batch size (auto_scale_lr)')
    parser.add_argument('--no-validate', action='store_true', help='skip validation')
    add_cfg_options_argument(parser, 'override config entries, e.g. model.backbone.with_cp=True')
    parser.add_argument('--progress', action='store_true',
                        help='an updating progress line per phase on stderr: iterations done '
                        'of the total, the latest loss, the time left')
    parser.add_argument('--force', action='store_true',
                        help='start a new run in a work dir that holds a previous run (its '
                        'checkpoints are moved into a replaced-<time> folder there)')
    parser.add_argument('--skip-bad-samples', action='store_true',
                        help='leave out, with a warning, the samples the data check finds bad '
                        '(unreadable images, labels outside the classes, unusable maps, '
                        'degenerate boxes) instead of stopping')
    parser.add_argument('--debug', action='store_true',
                        help='show the stack trace of expected failures too')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.skip_bad_samples:
        os.environ[SKIP_ENV] = '1'
    return args


def build_config(args) -> Config:
    cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir,
                      args.progress)
    if args.amp:
        set_amp(cfg, args.amp_dtype)
    elif args.amp_dtype:
        raise ValueError('--amp-dtype needs --amp')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        require_checkpoint_file(args.resume, what='--resume: checkpoint')
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', 0))) == 0:  # main process only
        aside = claim_work_dir(cfg.work_dir, resume=bool(args.resume), force=args.force)
        if aside:
            print(f'--force: the previous run\'s checkpoints in {cfg.work_dir} were moved into '
                  f'{aside}')
    return cfg


def set_amp(cfg: Config, dtype: str = None) -> None:
    """``--amp``: the config's OptimWrapper becomes mmengine's AmpOptimWrapper on a GPU, or our
    CPUAmpOptimWrapper on CPU (mmengine's refuses to run there)."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper not in ('OptimWrapper', 'AmpOptimWrapper', 'vmlp_mm.CPUAmpOptimWrapper'):
        raise ValueError(f'--amp needs an OptimWrapper, the config uses {wrapper}')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = dtype or 'float16'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        return
    if dtype == 'float16':
        raise ValueError('--amp-dtype float16 needs a GPU (loss scaling); on CPU --amp trains '
                         'in bfloat16: leave --amp-dtype out or pass bfloat16')
    cfg.optim_wrapper.type = 'vmlp_mm.CPUAmpOptimWrapper'
    cfg.optim_wrapper.pop('loss_scale', None)
    cfg.optim_wrapper.dtype = 'bfloat16'


def main():
    args = parse_args()
    cfg = build_config(args)
    try:
        # no reference to the runner survives the call (its DDP model must be freed before
        # the process group goes)
        CrashSafeRunner.from_cfg(cfg).train()
    except BaseException:
        destroy_distributed(synchronize=False)
        raise
    destroy_distributed()


if __name__ == '__main__':
    run_main(main)
