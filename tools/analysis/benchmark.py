"""Throughput (images/s) and peak memory of a config's backbone or whole model, with a fixed
protocol.

    python tools/analysis/benchmark.py CONFIG [--part backbone|model] [--batch 8] [--shape H W]
        [--device cpu|cuda] [--warmup 3] [--repeats 10] [--train]
        [--dtype fp32 bf16 ...] [--channels-last off on ...] [--compile off on ...]
        [--variant model.backbone.KEY=VALUE ... --variant ...]

Protocol: eval mode, no grad, random ``batch x 3 x H x W`` input, ``--warmup`` untimed calls
(also absorbing torch.compile's compilation), then the median of ``--repeats`` timed calls
(CUDA synchronised around each). ``--train`` times a training step instead: train mode,
forward, the sum of the outputs' means, backward. Every combination of the given variants
(each a set of config options, e.g. ``--variant model.backbone.dense_policy=global --variant
model.backbone.dense_policy=windowed``), dtypes (bf16, fp16 = autocast), memory formats and compile
settings is one row of the printed table, measured one after another in this process. ``--part
model`` times the classifier/segmentor/detector tensor forward (as tools/analysis/get_flops.py
traces it). The memory column is the peak over the row's calls above the memory in use before
it: CUDA's allocator peak, or on CPU the process's resident set sampled every millisecond.
"""
import argparse
import contextlib
import ctypes
import ctypes.util
import gc
import itertools
import threading

import torch
from mmengine.config import Config, DictAction

from vmlp_mm.analysis import median_seconds
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
    parser.add_argument('--dtype', nargs='+', choices=['fp32', 'bf16', 'fp16'], default=['fp32'])
    parser.add_argument('--channels-last', nargs='+', choices=['off', 'on'], default=['off'])
    parser.add_argument('--compile', nargs='+', choices=['off', 'on'], default=['off'])
    parser.add_argument('--train', action='store_true', help='time forward + backward')
    parser.add_argument('--variant', nargs='+', action='append', metavar='KEY=VALUE',
                        help='config options of one variant (repeat for several)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def resident_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096


@contextlib.contextmanager
def peak_memory(device: str):
    """Yields a dict whose ``'bytes'`` is set, on exit, to the peak memory above the start."""
    result = {}
    if device == 'cuda':
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        yield result
        torch.cuda.synchronize()
        result['bytes'] = torch.cuda.max_memory_allocated() - start
        return
    # hand the memory freed by earlier rows back to the system first, or a row reusing it
    # would show no growth
    gc.collect()
    ctypes.CDLL(ctypes.util.find_library('c')).malloc_trim(0)
    start, peak, done = resident_bytes(), [0], threading.Event()

    def sample():
        while not done.wait(1e-3):
            peak[0] = max(peak[0], resident_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        result['bytes'] = max(peak[0], resident_bytes()) - start


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


def main():
    args = parse_args()
    base_cfg = Config.fromfile(args.config)
    if args.cfg_options:
        base_cfg.merge_from_dict(args.cfg_options)
    shape = tuple(args.shape or default_shape(base_cfg))
    x = torch.randn(args.batch, 3, *shape, device=args.device)
    print(f'{args.config}: {args.part}, {"training step" if args.train else "inference"}, '
          f'batch {args.batch}, {shape[0]}x{shape[1]}, {args.device}, median of {args.repeats} '
          f'after {args.warmup} warm-up calls')
    print('| variant | dtype | channels_last | compile | ms / batch | images / s | peak MiB |')
    print('|---|---|---|---|---|---|---|')
    for variant, dtype, channels_last, compiled in itertools.product(
            args.variant or [[]], args.dtype, args.channels_last, args.compile):
        cfg = base_cfg.copy()
        cfg.merge_from_dict({key: DictAction._parse_iterable(value)
                             for key, value in (option.split('=', 1) for option in variant)})
        seconds, peak_bytes = measure(args, cfg, shape, x, dtype, channels_last, compiled)
        print(f'| {" ".join(variant) or "-"} | {dtype} | {channels_last} | {compiled} | '
              f'{seconds * 1e3:.1f} | {args.batch / seconds:.1f} | {peak_bytes / 2**20:.0f} |',
              flush=True)


def measure(args, cfg, shape, x, dtype, channels_last, compiled):
    """Median seconds per call and peak memory of one variant (its model is freed on return)."""
    module = build(cfg, args.part, shape, args.device)
    if args.train:
        module.train()
    inputs = x
    if channels_last == 'on':
        module = module.to(memory_format=torch.channels_last)
        inputs = x.contiguous(memory_format=torch.channels_last)
    run = torch.compile(module) if compiled == 'on' else module
    autocast = contextlib.nullcontext() if dtype == 'fp32' else torch.autocast(
        args.device, dtype=torch.bfloat16 if dtype == 'bf16' else torch.float16)

    def forward():
        with torch.no_grad(), autocast:
            run(inputs)

    def train_step():
        with autocast:
            loss = outputs_mean(run(inputs))
        loss.backward()
        module.zero_grad(set_to_none=True)

    with peak_memory(args.device) as memory:
        seconds = median_seconds(train_step if args.train else forward, args.warmup,
                                 args.repeats, args.device)
    return seconds, memory['bytes']

if __name__ == '__main__':
    main()
