"""Evaluate a checkpoint with a vmlp_mm config of any task (the config's test set and metrics)."""
import argparse
import json
import os

from mmengine.config import DictAction

from vmlp_mm.engine import CrashSafeRunner
from vmlp_mm.utils.checkpoint import CheckpointError, file_problem
from vmlp_mm.utils.launch import destroy_distributed, load_config


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation log goes')
    parser.add_argument('--out-metrics', help='also write the metrics to this JSON file')
    parser.add_argument('--amp', action='store_true',
                        help='inference under autocast (float16 on a GPU, bfloat16 on CPU)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    problem = file_problem(args.checkpoint)
    if problem:
        raise CheckpointError(f'checkpoint {args.checkpoint} {problem}')
    cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.amp:  # autocast: float16 on a GPU, bfloat16 on CPU; predictions back in float32
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, type='vmlp_mm.AmpTestLoop', fp16=True)
    try:
        # no reference to the runner survives the call (its DDP model must be freed before
        # the process group goes)
        metrics = CrashSafeRunner.from_cfg(cfg).test()
    except BaseException:
        destroy_distributed(synchronize=False)
        raise
    destroy_distributed()
    if args.out_metrics:
        with open(args.out_metrics, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=1)


if __name__ == '__main__':
    main()
