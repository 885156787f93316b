"""Time the fused vmlp_mm ops against their references and the official formulations.

    python tools/analysis/benchmark_ops.py [--device cpu|cuda] [--batch 32] [--repeats 5]

shift_mix: MS-MLP-T's four stage shapes at 224 input (C = 96/192/384/768 at 56/28/14/7,
kernel sizes of the official YAML), three ways: the fused op on channels-last maps (the memory
format the MSMLP backbone keeps), the pure-PyTorch reference (packed weights) and the official
chunk / roll / conv / cat sequence on NCHW maps (as the official model). Prints medians in ms for
forward and forward+backward and the speed-up of the fused op.
"""
import argparse
import statistics
import time

import torch

from vmlp_mm.backbones import MSMLP
from vmlp_mm.ops import ShiftMix, has_ext, pack_depthwise, shift_mix_reference


def official_sequence(mixer: ShiftMix, x: torch.Tensor) -> torch.Tensor:
    """MixShiftBlock's token mixing as the official code writes it."""
    xs = torch.chunk(x, len(mixer.shifts), 1)
    lr = torch.cat([c(torch.roll(xc, s, 3)) for xc, s, c in zip(xs, mixer.shifts, mixer.dwconv_lr)], 1)
    td = torch.cat([c(torch.roll(xc, s, 2)) for xc, s, c in zip(xs, mixer.shifts, mixer.dwconv_td)], 1)
    return lr + td


def reference(mixer: ShiftMix, x: torch.Tensor) -> torch.Tensor:
    return shift_mix_reference(
        x, pack_depthwise([c.weight for c in mixer.dwconv_lr]),
        torch.cat([c.bias for c in mixer.dwconv_lr]),
        pack_depthwise([c.weight for c in mixer.dwconv_td]),
        torch.cat([c.bias for c in mixer.dwconv_td]), mixer.shifts, mixer.kernel_sizes)


def median_ms(fn, repeats, device):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == 'cuda':
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench_shift_mix(args):
    arch = MSMLP.arch_zoo['tiny']
    rows = []
    for stage, (channels, size) in enumerate(zip(arch['channels'], [56, 28, 14, 7])):
        torch.manual_seed(0)
        mixer = ShiftMix(channels, arch['shifts'], arch['kernel_sizes'][stage]).to(args.device)
        x = torch.randn(args.batch, channels, size, size, device=args.device)
        # each in the memory format its model keeps maps in: ours channels-last, official NCHW
        x_cl = x.contiguous(memory_format=torch.channels_last).requires_grad_()
        x.requires_grad_()
        variants = {'fused': (mixer, x_cl), 'reference': (lambda t: reference(mixer, t), x),
                    'official': (lambda t: official_sequence(mixer, t), x)}
        row = {'shape': f'{args.batch}x{channels}x{size}x{size}', 'k': arch['kernel_sizes'][stage]}
        for name, (fn, inp) in variants.items():
            with torch.no_grad():
                row[f'{name} fwd'] = median_ms(lambda: fn(inp), args.repeats, args.device)
            row[f'{name} fwd+bwd'] = median_ms(lambda: fn(inp).sum().backward(), args.repeats,
                                               args.device)
        rows.append(row)
    print(f'\nshift_mix on {args.device} ({torch.get_num_threads()} threads), median of '
          f'{args.repeats}, ms; extension built: {has_ext()}')
    print('| stage shape | kernels | pass | fused | reference | official | ref/fused | official/fused |')
    print('|---|---|---|---|---|---|---|---|')
    for row in rows:
        for mode in ('fwd', 'fwd+bwd'):
            fused, ref, off = (row[f'{n} {mode}'] for n in ('fused', 'reference', 'official'))
            print(f'| {row["shape"]} | {row["k"]} | {mode} | {fused:.2f} | {ref:.2f} | {off:.2f} '
                  f'| {ref / fused:.2f}x | {off / fused:.2f}x |')


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    bench_shift_mix(args)


if __name__ == '__main__':
    main()
