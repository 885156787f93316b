"""Time the fused vmlp_mm ops against their references and the official formulations.

    python tools/analysis/benchmark_ops.py [--device cpu|cuda] [--batch 32] [--repeats 5]
        [--only shift_mix offset_sample backbones repmlp_deploy posmlp_stripmlp depthwise_conv
               positional_mix posmlp_official]

shift_mix: MS-MLP-T's four stage shapes at 224 input (C = 96/192/384/768 at 56/28/14/7,
kernel sizes of the official YAML), three ways: the fused op on channels-last maps (the memory
format the MSMLP backbone keeps), the pure-PyTorch reference (packed weights) and the official
chunk / roll / conv / cat sequence on NCHW maps (as the official model). Prints medians in ms for
forward and forward+backward and the speed-up of the fused op.

offset_sample: ActiveMLP-T's four stage shapes at 224 input (batch --batch) and at a detection
size (800x1216, batch 2), one ATM branch each -- sampling along W plus the 1x1 projection -- three
ways: the op + ``F.linear`` on channels-last maps, the pure-PyTorch reference + ``F.linear``, and
the official route (``torchvision.ops.deform_conv2d`` with a zero-filled 2-D offset tensor). The
op's sampling and projection are also timed alone: the projection is a GEMM that already runs at
the BLAS library's speed, which is why the op leaves it outside.

backbones: MSMLP-T and ActiveMLP-T forward (batch 8, 224) with the kernels and with every op's
reference (a reference-op build of the same model).

repmlp_deploy: RepMLPNet-T224 and -B224 forward (eval mode) in the training-time form (partition
FC + BN + 1x1/3x3 conv branches) and after ``switch_to_deploy()`` (one FC with bias), at the
pretraining size (batch --batch // 4) and at an ADE20K crop (512x512, batch 2).

posmlp_stripmlp: PosMLP's positional token mixing (the positional_mix op, tile by tile) and
Strip-MLP's strip FCs (batched GEMMs over groups) against plain ports of the official
formulations (einops rearranges + einsum; grouped (1, 3) convs over permuted "token channel"
views) at the -T models' stage shapes (224, batch --batch // 4), and PosMLP-T / Strip-MLP-T
forward and training step with ours and with the official formulations swapped in
(``vmlp_mm.official_forms.with_official_formulations``: also Strip-MLP's GRN through autograd
and its depthwise convolutions as ``nn.Conv2d``).

depthwise_conv: Strip-MLP-T's depthwise convolutions (7x7 and 3x3 on C, 3x7 and 7x3 on C / 2,
at 56/28/14/7, batch --batch // 4), forward + backward, three ways: ``nn.Conv2d`` on NCHW and on
channels-last maps (oneDNN/cuDNN) and the ``depthwise_conv2d`` op (whose weight gradient is
ours).

positional_mix: PosMLP's positional mixing alone, the op against its reference (the formulation
PosMLP ran before: a window's [G, N, N] maps formed, soft-maxed and kept for the backward), on
one window of PosMLP-T's stage 3 (C = 768 gated channels, G = 32, batch 1) of N = 196 (14 x 14,
224 input), 1024 (32 x 32, 512 x 512), 1,900 (25 x 76: half the 800 x 1216 map) and 3,800
(50 x 76, all of it) tokens: forward, forward + backward, and the peak memory of a forward +
backward above the inputs.

posmlp_official: PosMLP-T's classifier against the official code's (``PosMLP_T14_224`` of
Zhicaiwww/PosMLP, read from ``$VMLP_OFFICIAL_SRC/PosMLP``; needs einops), same weights (the
official model's, converted), both with the official training's dropout (0.02333) and drop path
(0.1): the training step (train mode, forward + backward of the logits' sum) at 224, batch
--batch // 4 and --batch // 16, the two models timed in turn, median of --repeats rounds. Not in
the default run (it needs the official source).
"""
import argparse
import functools
import importlib
import os
import os.path as osp
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from vmlp_mm.analysis import median_seconds, peak_memory
from vmlp_mm.backbones import MSMLP, ActiveMLP, PosMLP, RepMLPNet, StripMLP
from vmlp_mm.backbones.posmlp import QuadraticPositionalMixing, WindowGrid
from vmlp_mm.backbones.stripmlp import StripFC
from vmlp_mm.official_forms import (
    atm_deform_conv2d,
    posmlp_mixing_official,
    shift_mix_official,
    strip_fc_official,
    with_official_formulations,
)
from vmlp_mm.ops import (
    DepthwiseConv2d,
    ShiftMix,
    depthwise_conv2d,
    has_ext,
    offset_sample,
    offset_sample_reference,
    pack_depthwise,
    positional_mix,
    positional_mix_reference,
    reference_ops,
    shift_mix_reference,
)
from vmlp_mm.utils.cli import run_main


def reference(mixer: ShiftMix, x: torch.Tensor) -> torch.Tensor:
    return shift_mix_reference(
        x, pack_depthwise([c.weight for c in mixer.dwconv_lr]),
        torch.cat([c.bias for c in mixer.dwconv_lr]),
        pack_depthwise([c.weight for c in mixer.dwconv_td]),
        torch.cat([c.bias for c in mixer.dwconv_td]), mixer.shifts, mixer.kernel_sizes)


def median_ms(fn, repeats, device):
    """One warm-up call, then the median of ``repeats`` timed calls (benchmark.py's protocol)."""
    return median_seconds(fn, 1, repeats, device) * 1e3


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
                    'official': (lambda t: shift_mix_official(t, mixer.shifts, mixer.dwconv_lr,
                                                                mixer.dwconv_td), x)}
        row = {'shape': f'{args.batch}x{channels}x{size}x{size}', 'k': arch['kernel_sizes'][stage]}
        for name, (fn, inp) in variants.items():
            with torch.no_grad():
                row[f'{name} fwd'] = median_ms(lambda: fn(inp), args.repeats, args.device)
            row[f'{name} fwd+bwd'] = median_ms(lambda: fn(inp).sum().backward(), args.repeats,
                                               args.device)
        rows.append(row)
    print(f'\nshift_mix on {args.device} ({torch.get_num_threads()} threads), median of '
          f'{args.repeats}, ms; extension built: {has_ext()}')
    print('| stage shape | kernels | pass | fused | reference | official | ref/fused '
          '| official/fused |')
    print('|---|---|---|---|---|---|---|---|')
    for row in rows:
        for mode in ('fwd', 'fwd+bwd'):
            fused, ref, off = (row[f'{n} {mode}'] for n in ('fused', 'reference', 'official'))
            print(f'| {row["shape"]} | {row["k"]} | {mode} | {fused:.2f} | {ref:.2f} | {off:.2f} '
                  f'| {ref / fused:.2f}x | {off / fused:.2f}x |')


def bench_offset_sample(args):
    arch = ActiveMLP.arch_zoo['tiny']
    cases = [(args.batch, c, s, s, share) for c, s, share in
             zip(arch['channels'], [56, 28, 14, 7], arch['share_dims'])]
    cases += [(2, c, 200 // 2**i, 304 // 2**i, share) for i, (c, share) in
              enumerate(zip(arch['channels'], arch['share_dims']))]
    print(f'\noffset_sample (+ 1x1 projection) along W on {args.device}, median of '
          f'{args.repeats}, ms')
    print('| shape (B, C, H, W), S | pass | op + linear | sampling alone | linear alone '
          '| reference + linear | deform_conv2d route | route/op |')
    print('|---|---|---|---|---|---|---|---|')
    for B, C, H, W, S in cases:
        torch.manual_seed(0)
        dev = args.device
        x = torch.randn(B, H, W, C, device=dev, requires_grad=True)
        offset = (torch.randn(B, H, W, C // S, device=dev) * 3).requires_grad_()
        weight = (torch.randn(C, C, 1, 1, device=dev) * 0.02).requires_grad_()
        bias = torch.zeros(C, device=dev, requires_grad=True)
        sampled = offset_sample(x, offset, 2).detach().requires_grad_()
        variants = {
            'op': lambda: F.linear(offset_sample(x, offset, 2), weight.flatten(1), bias),
            'sample': lambda: offset_sample(x, offset, 2),
            'linear': lambda: F.linear(sampled, weight.flatten(1), bias),
            'reference': lambda: F.linear(offset_sample_reference(x, offset, 2),
                                          weight.flatten(1), bias),
            'route': lambda: atm_deform_conv2d(x, offset, 2, weight, bias),
        }
        times = {}
        for name, fn in variants.items():
            with torch.no_grad():
                times[name, 'fwd'] = median_ms(fn, args.repeats, dev)
            times[name, 'fwd+bwd'] = median_ms(lambda: fn().sum().backward(), args.repeats, dev)
        for mode in ('fwd', 'fwd+bwd'):
            t = {name: times[name, mode] for name in variants}
            print(f'| {B}x{C}x{H}x{W}, {S} | {mode} | {t["op"]:.2f} | {t["sample"]:.2f} '
                  f'| {t["linear"]:.2f} | {t["reference"]:.2f} | {t["route"]:.2f} '
                  f'| {t["route"] / t["op"]:.2f}x |')


def bench_backbones(args):
    print(f'\nbackbone forward, batch 8, 224x224, {args.device}, median of {args.repeats}, ms')
    print('| backbone | kernels | reference ops | reference/kernels |')
    print('|---|---|---|---|')
    x = torch.randn(8, 3, 224, 224, device=args.device)
    for cls in (MSMLP, ActiveMLP):
        model = cls('tiny').to(args.device).eval()
        with torch.no_grad():
            fused = median_ms(lambda: model(x), args.repeats, args.device)
            with reference_ops():
                ref = median_ms(lambda: model(x), args.repeats, args.device)
        print(f'| {cls.__name__}-T | {fused:.0f} | {ref:.0f} | {ref / fused:.2f}x |')


def bench_repmlp_deploy(args):
    print(f'\nRepMLPNet forward, training-time vs deploy form, {args.device}, '
          f'median of {args.repeats}, ms')
    print('| model | input | training-time | deploy | speed-up |')
    print('|---|---|---|---|---|')
    batch = max(1, args.batch // 4)
    for arch in ('t224', 'b224'):
        model = RepMLPNet(arch, out_indices=(0, 1, 2, 3)).to(args.device).eval()
        deploy = RepMLPNet(arch, out_indices=(0, 1, 2, 3)).to(args.device).eval()
        deploy.switch_to_deploy()
        for n, size in ((batch, 224), (2, 512)):
            x = torch.randn(n, 3, size, size, device=args.device)
            with torch.no_grad():
                train_ms = median_ms(lambda: model(x), args.repeats, args.device)
                deploy_ms = median_ms(lambda: deploy(x), args.repeats, args.device)
            print(f'| RepMLPNet-{arch.upper()} | {n}x3x{size}x{size} | {train_ms:.0f} | '
                  f'{deploy_ms:.0f} | {train_ms / deploy_ms:.2f}x |')


def bench_posmlp_stripmlp(args):
    batch = max(1, args.batch // 4)
    print(f'\nPosMLP / Strip-MLP token mixing, batch {batch}, 224 input, {args.device}, '
          f'median of {args.repeats}, ms (forward)')
    print('| op | stage shape | official formulation | ours | speed-up |')
    print('|---|---|---|---|---|')
    # PosMLP-T: gated channels 192/384/768/768 in 16/4/1/1 windows of 14/14/14/7
    for windows, size, channels, groups in ((16, 14, 192, 8), (4, 14, 384, 16),
                                            (1, 14, 768, 32), (1, 7, 768, 64)):
        mixer = QuadraticPositionalMixing(size, groups).to(args.device)
        grid = WindowGrid(size, size * windows, (size, size))
        # the blocks' channel-first hidden features [C, B, T]
        u = torch.randn(channels, batch, windows * size * size, device=args.device)
        gate = torch.randn_like(u)
        with torch.no_grad():
            ours = median_ms(lambda: mixer(u, gate, grid), args.repeats, args.device)
            official = median_ms(lambda: posmlp_mixing_official(mixer, u, gate, grid),
                                 args.repeats, args.device)
        print(f'| PosMLP mixing | {windows}x{size}^2 windows, C={channels}, G={groups} | '
              f'{official:.2f} | {ours:.2f} | {official / ours:.2f}x |')
    # Strip-MLP-T: 40/80/160/320 strip channels at 56/28/14/7, groups C / 4 of the block
    for size, channels, groups in ((56, 40, 20), (28, 80, 40), (14, 160, 80), (7, 320, 160)):
        for along in ('w', 'h'):
            fc = StripFC(size, groups, along).to(args.device)
            x = torch.randn(batch, channels, size, size, device=args.device)
            with torch.no_grad():
                ours = median_ms(lambda: fc(x), args.repeats, args.device)
                official = median_ms(lambda: strip_fc_official(fc, x), args.repeats, args.device)
            print(f'| Strip FC ({"rows" if along == "w" else "columns"}) | C={channels} at '
                  f'{size}x{size}, G={groups} | {official:.2f} | {ours:.2f} | '
                  f'{official / ours:.2f}x |')
    print(f'\nbackbone forward and training step (train mode, forward + backward), batch {batch}, '
          f'224x224, {args.device}, ms')
    print('| backbone | forward: official formulations | ours | speed-up | training step: '
          'official formulations | ours | speed-up |')
    print('|---|---|---|---|---|---|---|')
    x = torch.randn(batch, 3, 224, 224, device=args.device)
    for cls in (PosMLP, StripMLP):
        model = cls('tiny').to(args.device).eval()
        official_model = with_official_formulations(model)
        with torch.no_grad():
            ours = median_ms(lambda: model(x), args.repeats, args.device)
            official = median_ms(lambda: official_model(x), args.repeats, args.device)
        cells = [f'{official:.0f}', f'{ours:.0f}', f'{official / ours:.2f}x']
        for module in (official_model, model):
            module.train()
        ours = median_ms(lambda: training_step(model, x), args.repeats, args.device)
        official = median_ms(lambda: training_step(official_model, x), args.repeats, args.device)
        cells += [f'{official:.0f}', f'{ours:.0f}', f'{official / ours:.2f}x']
        print(f'| {cls.__name__}-T | ' + ' | '.join(cells) + ' |')


def training_step(model, x):
    sum(out.mean() for out in model(x)).backward()
    model.zero_grad(set_to_none=True)


def bench_depthwise_conv(args):
    """Strip-MLP-T's depthwise convolutions at 224 (batch --batch // 4): the op against
    ``nn.Conv2d`` on channels-last and NCHW maps, forward + backward."""
    batch = max(1, args.batch // 4)
    print(f'\ndepthwise convolutions of Strip-MLP-T, batch {batch}, 224 input, {args.device}, '
          f'median of {args.repeats}, ms (forward + backward)')
    print('| kernel | stage shape | nn.Conv2d, NCHW | nn.Conv2d, channels-last | '
          'depthwise_conv2d | speed-up over channels-last |')
    print('|---|---|---|---|---|---|')
    arch = StripMLP.arch_zoo['tiny']
    for channels, size in zip(arch['channels'], [56, 28, 14, 7]):
        # 7x7 (channel mixing) and 3x3 (token mixing) on C, 3x7 and 7x3 (LSMM) on C / 2
        for kernel, c in (((7, 7), channels), ((3, 3), channels), ((3, 7), channels // 2),
                          ((7, 3), channels // 2)):
            op = DepthwiseConv2d(c, kernel).to(args.device)
            x = torch.randn(batch, c, size, size, device=args.device, requires_grad=True)
            x_last = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
            conv = functools.partial(nn.Conv2d.forward, op)

            def step(fn, inputs):
                fn(inputs).sum().backward()

            nchw = median_ms(lambda: step(conv, x), args.repeats, args.device)
            last = median_ms(lambda: step(conv, x_last), args.repeats, args.device)
            # the op itself on every device (the module runs nn.Conv2d off the CPU)
            ours = median_ms(lambda: step(lambda t: depthwise_conv2d(t, op.weight), x_last),
                             args.repeats, args.device)
            print(f'| {kernel[0]}x{kernel[1]} | C={c} at {size}x{size} | {nchw:.2f} | '
                  f'{last:.2f} | {ours:.2f} | {last / ours:.2f}x |')


def bench_positional_mix(args):
    print(f'\nPosMLP-T stage-3 positional mixing, one window, batch 1, C=768, G=32, {args.device}, '
          f'median of {args.repeats}, ms; peak MiB of a forward + backward')
    print('| window | N | forward: reference | op | speed-up | forward + backward: reference | '
          'op | speed-up | peak MiB: reference | op |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for rows, cols in ((14, 14), (32, 32), (25, 76), (50, 76)):
        x = torch.randn(32, 768 // 32, rows * cols, device=args.device, requires_grad=True)
        mixer = QuadraticPositionalMixing(14, 32).to(args.device)
        coefficients = mixer.coefficients().detach().requires_grad_()
        cells = {}
        for name, op in (('reference', positional_mix_reference), ('op', positional_mix)):
            def step():
                op(x, coefficients, rows, cols).sum().backward()
            with torch.no_grad():
                forward = median_ms(lambda: op(x, coefficients, rows, cols), args.repeats,
                                    args.device)
            both = median_ms(step, args.repeats, args.device)
            with peak_memory(args.device) as memory:
                step()
            cells[name] = forward, both, memory['bytes'] / 2**20
        (rf, rb, rm), (of, ob, om) = cells['reference'], cells['op']
        print(f'| {rows}x{cols} | {rows * cols} | {rf:.1f} | {of:.1f} | {rf / of:.2f}x | {rb:.1f} '
              f'| {ob:.1f} | {rb / ob:.2f}x | {rm:.0f} | {om:.0f} |', flush=True)


def bench_posmlp_official(args):
    root = os.environ.get('VMLP_OFFICIAL_SRC', '')
    if not osp.isfile(osp.join(root, 'PosMLP', 'models', 'posmlp.py')):
        raise FileNotFoundError(
            f'posmlp_official needs the official source: no PosMLP/models/posmlp.py under '
            f'VMLP_OFFICIAL_SRC={root!r}; clone Zhicaiwww/PosMLP into a folder and point '
            'VMLP_OFFICIAL_SRC at it')
    from mmengine.config import Config

    from vmlp_mm.families import get_family
    from vmlp_mm.utils.config_model import build_config_model
    sys.path.insert(0, osp.join(root, 'PosMLP'))  # its files import each other as `models`
    official_module = importlib.import_module('models.posmlp')
    torch.manual_seed(0)
    official = official_module.PosMLP_T14_224(drop_rate=0.02333, drop_path_rate=0.1)
    family = get_family('posmlp')
    state_dict, arch, overrides = family.convert(official.state_dict())
    ours = build_config_model(Config.fromfile(family.classification_config(arch)), **overrides)
    ours.load_state_dict(state_dict)
    models = {'official': official.to(args.device).train(), 'ours': ours.to(args.device).train()}
    steps = {'official': lambda x: models['official'](x),
             'ours': lambda x: models['ours'](x, mode='tensor')}
    print(f'\nPosMLP-T classifier against the official code, training step (train mode, dropout '
          f'0.02333, drop path 0.1), 224x224, {args.device}, median of {args.repeats} rounds, ms')
    print('| batch | official code | ours | speed-up |')
    print('|---|---|---|---|')
    for batch in (max(1, args.batch // 4), max(1, args.batch // 16)):
        x = torch.randn(batch, 3, 224, 224, device=args.device)
        times = {name: [] for name in models}
        for _ in range(args.repeats + 1):  # the first round warms up
            for name, model in models.items():
                times[name].append(median_seconds(
                    lambda: (steps[name](x).sum().backward(), model.zero_grad(set_to_none=True)),
                    0, 1, args.device) * 1e3)
        official_ms, ours_ms = (sorted(t[1:])[len(t[1:]) // 2] for t in times.values())
        print(f'| {batch} | {official_ms:.0f} | {ours_ms:.0f} | {official_ms / ours_ms:.2f}x |',
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=5)
    benches = {'shift_mix': bench_shift_mix, 'offset_sample': bench_offset_sample,
               'backbones': bench_backbones, 'repmlp_deploy': bench_repmlp_deploy,
               'posmlp_stripmlp': bench_posmlp_stripmlp, 'depthwise_conv': bench_depthwise_conv,
               'positional_mix': bench_positional_mix, 'posmlp_official': bench_posmlp_official}
    parser.add_argument('--only', nargs='+', choices=list(benches),
                        default=[name for name in benches if name != 'posmlp_official'])
    args = parser.parse_args()
    for name in args.only:
        benches[name](args)


if __name__ == '__main__':
    run_main(main)
