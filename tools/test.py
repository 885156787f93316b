"""Evaluate a checkpoint with a vmlp_mm config of any task (the config's test set and metrics).

The flags are those of mmpretrain's, mmseg's and mmdet's ``tools/test.py``, with their behaviour
per task: ``--out`` (raw predictions), ``--show-dir``/``--show``/``--wait-time`` (pictures of
predictions next to the ground truth, every image), ``--tta`` (the config's ``tta_model`` and
``tta_pipeline``; mmdet has none for instance segmentation, which is said, not failed).
"""
import argparse
import contextlib
import copy
import json
import os
import os.path as osp

import vmlp_mm  # noqa: F401  (before the upstream packages: quiets their import warnings)

# isort: split
from mmengine.config import Config, ConfigDict

from vmlp_mm.engine import CrashSafeRunner
from vmlp_mm.engine.data_checks import SKIP_ENV
from vmlp_mm.utils.checkpoint import require_checkpoint_file
from vmlp_mm.utils.cli import run_main
from vmlp_mm.utils.launch import add_cfg_options_argument, destroy_distributed, load_config
from vmlp_mm.utils.outputs import (
    add_force_argument,
    check_output,
    check_output_folder,
    check_work_dir,
    folder_written_atomically,
    partial_path,
    write_text_atomically,
    written_atomically,
)
from vmlp_mm.visualization import MIN_SIDE


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation log goes')
    parser.add_argument('--out', help='raw predictions: a .pkl file (classification, detection), '
                        'or a folder of prediction maps (segmentation), as upstream writes them')
    parser.add_argument('--out-metrics', help='also write the metrics to this JSON file')
    parser.add_argument('--show-dir', help='pictures of predictions next to the ground truth, '
                        'one per test image')
    parser.add_argument('--show', action='store_true', help='show the pictures in a window')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds per shown picture')
    parser.add_argument('--tta', action='store_true', help="test-time augmentation (the config's "
                        'tta_model/tta_pipeline; classification: flips by default)')
    parser.add_argument('--amp', action='store_true',
                        help='inference under autocast (float16 on a GPU, bfloat16 on CPU)')
    add_cfg_options_argument(parser, 'override config entries')
    parser.add_argument('--progress', action='store_true',
                        help='an updating progress line per phase on stderr: iterations done '
                        'of the total, the latest loss, the time left')
    add_force_argument(parser)
    parser.add_argument('--skip-bad-samples', action='store_true',
                        help='leave out, with a warning, the test samples the data check finds '
                        'bad instead of stopping')
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


def enable_pictures(cfg: Config, show_dir: str, show: bool, wait_time: float) -> None:
    """Turn the config's visualization hook on for every test image, as each library does."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ValueError('--show/--show-dir need default_hooks.visualization in the config')
    scope = cfg.default_scope
    hook.interval = 1  # upstream draws every 50th image
    if show:
        hook.update(show=True, wait_time=wait_time)
    if scope == 'mmpretrain':
        hook.enable = True
        if show_dir:
            hook.out_dir = show_dir
        hook.rescale_factor = readable_rescale_factor(cfg)
    else:
        hook.draw = True
        if show_dir and scope == 'mmdet':
            hook.test_out_dir = show_dir
        elif show_dir:
            cfg.visualizer.save_dir = show_dir


def readable_rescale_factor(cfg: Config) -> float:
    """mmpretrain writes the labels in a fixed font at the image's size: enlarge small images
    (the first test image's size decides) so the text is readable."""
    from mmengine.registry import DATASETS, init_default_scope
    from PIL import Image
    init_default_scope(cfg.default_scope)
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset, pipeline=[], lazy_init=False))
    path = dataset.get_data_info(0).get('img_path')
    if not path or not osp.isfile(path):
        return 1.
    return float(max(1, -(-MIN_SIDE // min(Image.open(path).size))))


def enable_tta(cfg: Config) -> None:
    scope = cfg.default_scope
    if scope == 'mmdet' and cfg.model.get('roi_head', {}).get('mask_head'):
        raise SystemExit('--tta: mmdet has no test-time augmentation for instance segmentation '
                         '(its DetTTAModel merges boxes only); evaluate without --tta')
    if scope == 'mmpretrain' and 'tta_model' not in cfg:  # mmpretrain test.py's default
        cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
        pipeline = cfg.test_dataloader.dataset.pipeline
        cfg.tta_pipeline = copy.deepcopy(pipeline)
        cfg.tta_pipeline[-1] = dict(type='TestTimeAug', transforms=[
            [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)], [pipeline[-1]]])
    if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise SystemExit(f'--tta: the config has no tta_model/tta_pipeline ({scope})')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def set_raw_output(cfg: Config, out: str):
    """mmseg writes prediction maps into the evaluator's output_dir; mmpretrain and mmdet dump a
    pickle with a metric appended to the evaluator (returned, to add once the Runner exists)."""
    if cfg.default_scope == 'mmseg':
        cfg.test_evaluator.update(output_dir=out, keep_results=True)
        return None
    if cfg.default_scope == 'mmdet':
        from mmdet.evaluation import DumpDetResults
        return DumpDetResults(out_file_path=out)
    from mmengine.evaluator import DumpResults
    return DumpResults(out_file_path=out)


def check_outputs(args, cfg: Config) -> None:
    """Every output the run will write, checked before the model is built: nothing that exists
    is replaced without --force, no input ever (the checkpoint, the config, the data)."""
    inputs = [args.checkpoint, args.config, cfg.test_dataloader.dataset.get('data_root')]
    if args.out and cfg.default_scope == 'mmseg':
        check_output_folder(args.out, inputs, args.force, what='--out')
    elif args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit(f'--out {args.out}: the raw predictions are a pickle, name it *.pkl')
        check_output(args.out, inputs, args.force, what='--out')
    if args.out_metrics:
        check_output(args.out_metrics, inputs, args.force, what='--out-metrics')
    if args.show_dir:
        check_output_folder(args.show_dir, inputs, args.force, what='--show-dir')
    check_work_dir(cfg.work_dir)


def run_test(cfg: Config, dump_metric=None) -> dict:
    # no reference to the runner survives the call (its DDP model must be freed before the
    # process group goes)
    runner = CrashSafeRunner.from_cfg(cfg)
    if dump_metric is not None:
        runner.test_evaluator.metrics.append(dump_metric)
    return runner.test()


def main():
    args = parse_args()
    require_checkpoint_file(args.checkpoint)
    cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir,
                      args.progress)
    cfg.load_from = args.checkpoint
    if args.tta and (args.show or args.show_dir):
        raise SystemExit('--tta with --show/--show-dir: the visualization hooks draw one view per '
                         'image, not the augmented batches; run the two separately')
    check_outputs(args, cfg)
    main_process = int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', 0))) == 0

    def staged(path: str, folder: bool):
        """Where the run writes ``path``: beside it, moved there by the main process only after
        a complete run (the other processes write into the same place)."""
        path = osp.abspath(path)  # (mmdet would put a relative --show-dir under the work dir)
        if not main_process:
            return partial_path(path)
        return outputs.enter_context(
            folder_written_atomically(path) if folder else written_atomically(path))

    with contextlib.ExitStack() as outputs:
        show_dir = args.show_dir and staged(args.show_dir, folder=True)
        if args.show or args.show_dir:
            enable_pictures(cfg, show_dir, args.show, args.wait_time)
        if args.tta:
            enable_tta(cfg)
        out = args.out and staged(args.out, folder=cfg.default_scope == 'mmseg')
        dump_metric = set_raw_output(cfg, out) if args.out else None
        if args.amp:  # autocast: float16 on a GPU, bfloat16 on CPU; predictions back in float32
            cfg.test_cfg = dict(cfg.get('test_cfg') or {}, type='vmlp_mm.AmpTestLoop',
                                fp16=True)
        try:
            metrics = run_test(cfg, dump_metric)
        except BaseException:
            destroy_distributed(synchronize=False)
            raise
        destroy_distributed()
        if args.out_metrics and main_process:
            write_text_atomically(args.out_metrics, json.dumps(
                {k: float(v) for k, v in metrics.items()}, indent=1))


if __name__ == '__main__':
    run_main(main)
