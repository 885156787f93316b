"""Throughput (images/s) and peak memory of configs' backbones or whole models, with a fixed
protocol.

    python tools/analysis/benchmark.py CONFIG [CONFIG ...] [--part backbone|model] [--batch 8]
        [--shape H W] [--device cpu|cuda] [--warmup 3] [--repeats 10] [--rounds 1] [--train]
        [--per-gflop] [--dtype fp32 bf16 ...] [--channels-last off on ...]
        [--compile off on ...] [--ops kernels references]
        [--variant model.backbone.KEY=VALUE ... --variant ...]

Protocol: eval mode, no grad, random ``batch x 3 x H x W`` input, ``--warmup`` untimed calls
(also absorbing torch.compile's compilation), then the median of ``--repeats`` timed calls
(CUDA synchronised around each). ``--train`` times a training step instead: train mode,
forward, the sum of the outputs' means, backward. Every combination of the given configs,
variants (each a set of config options, e.g. ``--variant model.backbone.dense_policy=global
--variant model.backbone.dense_policy=windowed``), dtypes (bf16, fp16 = autocast), memory
formats, compile settings and ops (``--ops references``: every vmlp_mm op through its
pure-PyTorch reference, the formulation it replaced) is one row of the printed table,
measured in this process.
``--rounds R`` (R > 1) keeps every row's model and measures the rows in turn R times, the median
then taken over all R x repeats calls: on a shared machine, load that comes and goes then falls
on every row alike, which is what a side-by-side comparison needs. ``--per-gflop`` adds the
FLOPs of one image (``vmlp_mm.analysis.flop_analyzer``, fvcore's convention: a multiply-add is
one FLOP) and the time per batch divided by the batch's FLOPs, which compares models of different
size. ``--part model`` times the classifier/segmentor/detector tensor forward (as
tools/analysis/get_flops.py traces it). The memory column is the peak over the row's calls above
the memory in use before them: CUDA's allocator peak, or on CPU the process's resident set
sampled every millisecond.
"""
import argparse
import contextlib
import itertools
import os.path as osp
import statistics

import torch
from mmengine.config import Config, DictAction

from vmlp_mm.analysis import flop_analyzer, peak_memory, seconds_per_call
from vmlp_mm.ops import reference_ops
from vmlp_mm.utils.cli import run_main
from vmlp_mm.utils.config_model import TensorForward, build_config_model, default_shape


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='+', metavar='CONFIG')
    parser.add_argument('--part', choices=['backbone', 'model'], default='backbone')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--rounds', type=int, default=1,
                        help='measure all rows in turn this many times (models kept built)')
    parser.add_argument('--per-gflop', action='store_true',
                        help='add GFLOPs per image and ms per GFLOP of the batch')
    parser.add_argument('--dtype', nargs='+', choices=['fp32', 'bf16', 'fp16'], default=['fp32'])
    parser.add_argument('--channels-last', nargs='+', choices=['off', 'on'], default=['off'])
    parser.add_argument('--compile', nargs='+', choices=['off', 'on'], default=['off'])
    parser.add_argument('--ops', nargs='+', choices=['kernels', 'references'],
                        default=['kernels'], help="vmlp_mm's ops or their references")
    parser.add_argument('--train', action='store_true', help='time forward + backward')
    parser.add_argument('--variant', nargs='+', action='append', metavar='KEY=VALUE',
                        help='config options of one variant (repeat for several)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def build(cfg: Config, part: str, shape, device: str) -> torch.nn.Module:
    model = build_config_model(cfg)
    return (model.backbone if part == 'backbone' else TensorForward(model, shape)).to(device)


def outputs_mean(outputs) -> torch.Tensor:
    """A scalar from a model's tensor outputs (nested tuples/lists/dicts of tensors)."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float().mean()
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    return sum(outputs_mean(o) for o in outputs)


class Row:
    """One row of the table: a built model in one setting, and the calls timed so far."""

    def __init__(self, args, config: str, cfg: Config, shape, x, variant, dtype, channels_last,
                 compiled, ops):
        self.args, self.config, self.variant = args, config, variant
        self.dtype, self.channels_last, self.compiled = dtype, channels_last, compiled
        self.ops = ops
        self.module = build(cfg, args.part, shape, args.device)
        self.gflops = image_gflops(self.module, x[:1]) if args.per_gflop else None
        if args.train:
            self.module.train()
        self.inputs = x
        if channels_last == 'on':
            self.module = self.module.to(memory_format=torch.channels_last)
            self.inputs = x.contiguous(memory_format=torch.channels_last)
        self.run = torch.compile(self.module) if compiled == 'on' else self.module
        self.times, self.peak_bytes, self.warm = [], 0, False

    def autocast(self):
        if self.dtype == 'fp32':
            return contextlib.nullcontext()
        return torch.autocast(self.args.device,
                              dtype=torch.bfloat16 if self.dtype == 'bf16' else torch.float16)

    def call(self):
        with reference_ops() if self.ops == 'references' else contextlib.nullcontext():
            self._call()

    def _call(self):
        if self.args.train:
            with self.autocast():
                loss = outputs_mean(self.run(self.inputs))
            loss.backward()
            self.module.zero_grad(set_to_none=True)
        else:
            with torch.no_grad(), self.autocast():
                self.run(self.inputs)

    def measure(self):
        """``--repeats`` timed calls (after ``--warmup`` untimed ones the first time)."""
        with peak_memory(self.args.device) as memory:
            self.times += seconds_per_call(self.call, 0 if self.warm else self.args.warmup,
                                           self.args.repeats, self.args.device)
        self.warm = True
        self.peak_bytes = max(self.peak_bytes, memory['bytes'])

    def line(self) -> str:
        seconds = statistics.median(self.times)
        batch = self.args.batch
        cells = [self.config, ' '.join(self.variant) or '-', self.dtype, self.channels_last,
                 self.compiled, self.ops, f'{seconds * 1e3:.1f}', f'{batch / seconds:.1f}',
                 f'{self.peak_bytes / 2**20:.0f}']
        if self.gflops is not None:
            cells += [f'{self.gflops:.4g}', f'{seconds * 1e3 / (batch * self.gflops):.4g}']
        return '| ' + ' | '.join(cells) + ' |'


def image_gflops(module: torch.nn.Module, image: torch.Tensor) -> float:
    """GFLOPs of one image through ``module`` (eval mode, as get_flops.py counts them)."""
    training = module.training
    module.eval()
    with torch.no_grad():
        flops = flop_analyzer(module, (image,)).total() / 1e9
    module.train(training)
    return flops


def main():
    args = parse_args()
    base_cfgs = {}
    for config in args.configs:
        base_cfgs[config] = Config.fromfile(config)
        if args.cfg_options:
            base_cfgs[config].merge_from_dict(args.cfg_options)
    shape = tuple(args.shape or default_shape(base_cfgs[args.configs[0]]))
    x = torch.randn(args.batch, 3, *shape, device=args.device)
    print(f'{args.part}, {"training step" if args.train else "inference"}, batch {args.batch}, '
          f'{shape[0]}x{shape[1]}, {args.device}, median of {args.rounds} x {args.repeats} '
          f'calls after {args.warmup} warm-up calls'
          + (f' (rows measured in turn, {args.rounds} rounds)' if args.rounds > 1 else ''))
    header = ['config', 'variant', 'dtype', 'channels_last', 'compile', 'ops', 'ms / batch',
              'images / s', 'peak MiB'] + (['GFLOPs / image', 'ms / GFLOP'] if args.per_gflop
                                            else [])
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    settings = itertools.product(args.configs, args.variant or [[]], args.dtype,
                                 args.channels_last, args.compile, args.ops)

    def make_row(config, variant, dtype, channels_last, compiled, ops):
        cfg = base_cfgs[config].copy()
        cfg.merge_from_dict({key: DictAction._parse_iterable(value)
                             for key, value in (option.split('=', 1) for option in variant)})
        name = osp.splitext(osp.basename(config))[0]
        return Row(args, name, cfg, shape, x, variant, dtype, channels_last, compiled, ops)

    if args.rounds == 1:  # one row at a time, each model freed before the next is built
        for setting in settings:
            row = make_row(*setting)
            row.measure()
            print(row.line(), flush=True)
            del row
        return
    rows = [make_row(*setting) for setting in settings]
    for _ in range(args.rounds):
        for row in rows:
            row.measure()
    for row in rows:
        print(row.line())


if __name__ == '__main__':
    run_main(main)
