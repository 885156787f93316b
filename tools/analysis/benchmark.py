"""Throughput (images/s) of a config's backbone or whole model, with a fixed protocol.

    python tools/analysis/benchmark.py CONFIG [--part backbone|model] [--batch 8] [--shape H W]
        [--device cpu|cuda] [--warmup 3] [--repeats 10]
        [--dtype fp32 bf16 ...] [--channels-last off on ...] [--compile off on ...]

Protocol: eval mode, no grad, random ``batch x 3 x H x W`` input, ``--warmup`` untimed calls
(also absorbing torch.compile's compilation), then the median of ``--repeats`` timed calls
(CUDA synchronised around each). Every combination of the given dtypes (bf16 = autocast),
memory formats and compile settings is one row of the printed table. ``--part model`` times
the classifier/segmentor/detector tensor forward (as tools/analysis/get_flops.py traces it).
"""
import argparse
import contextlib
import itertools
import statistics
import time

import torch
from mmengine.config import Config, DictAction

from vmlp_mm.utils.config_model import TensorForward, build_config_model, default_shape


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--part', choices=['backbone', 'model'], default='backbone')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--dtype', nargs='+', choices=['fp32', 'bf16'], default=['fp32'])
    parser.add_argument('--channels-last', nargs='+', choices=['off', 'on'], default=['off'])
    parser.add_argument('--compile', nargs='+', choices=['off', 'on'], default=['off'])
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def build(cfg: Config, part: str, shape, device: str) -> torch.nn.Module:
    model = build_config_model(cfg)
    return (model.backbone if part == 'backbone' else TensorForward(model, shape)).to(device)


def median_seconds(fn, warmup: int, repeats: int, device: str) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    shape = tuple(args.shape or default_shape(cfg))
    x = torch.randn(args.batch, 3, *shape, device=args.device)
    print(f'{args.config}: {args.part}, batch {args.batch}, {shape[0]}x{shape[1]}, '
          f'{args.device}, median of {args.repeats} after {args.warmup} warm-up calls')
    print('| dtype | channels_last | compile | ms / batch | images / s |')
    print('|---|---|---|---|---|')
    for dtype, channels_last, compiled in itertools.product(args.dtype, args.channels_last,
                                                            args.compile):
        module = build(cfg, args.part, shape, args.device)
        inputs = x
        if channels_last == 'on':
            module = module.to(memory_format=torch.channels_last)
            inputs = x.contiguous(memory_format=torch.channels_last)
        run = torch.compile(module) if compiled == 'on' else module
        autocast = torch.autocast(args.device, dtype=torch.bfloat16) if dtype == 'bf16' \
            else contextlib.nullcontext()

        def forward():
            with torch.no_grad(), autocast:
                run(inputs)

        seconds = median_seconds(forward, args.warmup, args.repeats, args.device)
        print(f'| {dtype} | {channels_last} | {compiled} | {seconds * 1e3:.1f} | '
              f'{args.batch / seconds:.1f} |', flush=True)


if __name__ == '__main__':
    main()
