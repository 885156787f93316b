"""Plot training curves from mmengine logs to a PNG.

    python tools/analysis/plot_logs.py RUN [RUN ...] --keys loss accuracy/top1 --out curves.png
        [--legend NAME ...]

RUN is a work dir (its newest ``<timestamp>/vis_data/scalars.json`` is used), a timestamp dir
or a ``scalars.json`` itself. One panel per key: training scalars (lines with ``iter``) against
the iteration, validation metrics against their ``step`` (the epoch or iteration of the
validation), one line per run.
"""
import argparse
import glob
import json
import os.path as osp

import matplotlib

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from vmlp_mm.utils.cli import run_main  # noqa: E402
from vmlp_mm.utils.outputs import add_force_argument, check_output, written_atomically  # noqa: E402


def scalars_file(run: str) -> str:
    if run.endswith('.json'):
        return run
    candidates = sorted(glob.glob(osp.join(run, 'vis_data', 'scalars.json')) +
                        glob.glob(osp.join(run, '*', 'vis_data', 'scalars.json')))
    if not candidates:
        raise SystemExit(f'no vis_data/scalars.json under {run}')
    return candidates[-1]


def load_curves(path: str, keys):
    """``{key: (x values, y values)}``; training keys against iter, validation ones against
    step."""
    curves = {key: ([], []) for key in keys}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            for key in keys:
                if key in record:
                    curves[key][0].append(record.get('iter', record.get('step')))
                    curves[key][1].append(record[key])
    return curves


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+')
    parser.add_argument('--keys', nargs='+', default=['loss'])
    parser.add_argument('--legend', nargs='+', help='one name per run')
    parser.add_argument('--out', default='curves.png')
    add_force_argument(parser)
    args = parser.parse_args()
    check_output(args.out, args.runs, args.force, what='--out')
    names = args.legend or args.runs
    if len(names) != len(args.runs):
        raise SystemExit(f'--legend needs {len(args.runs)} names, got {len(names)}')
    figure, axes = plt.subplots(1, len(args.keys), figsize=(5 * len(args.keys), 4),
                                squeeze=False)
    empty = set(args.keys)
    for run, name in zip(args.runs, names):
        for axis, (key, (xs, ys)) in zip(axes[0], load_curves(scalars_file(run),
                                                              args.keys).items()):
            if xs:
                empty.discard(key)
                axis.plot(xs, ys, marker='.' if len(xs) < 30 else None, label=name)
            axis.set_title(key)
            axis.set_xlabel('iteration / validation step')
    if empty:
        raise SystemExit(f'no values for {sorted(empty)} in the logs')
    for axis in axes[0]:
        axis.legend()
    figure.tight_layout()
    with written_atomically(args.out) as partial:
        figure.savefig(partial, dpi=100, format=osp.splitext(args.out)[1][1:] or 'png')
    print(f'{args.out}: {", ".join(args.keys)} of {len(args.runs)} run(s)')


if __name__ == '__main__':
    run_main(main)
