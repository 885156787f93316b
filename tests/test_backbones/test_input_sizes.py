"""Finite outputs and gradients at every input size class, on the full archs the configs use.

The windowed backbones cut each stage's map into windows of a trained size; what can go wrong
(the PosMLP NaN at 512 x 512 was one) depends on the map side's residue modulo the window. For
every window configuration, the swept widths reach every residue of every stage's window at
least once, with input sides that are not multiples of the stride either, on the smallest arch
that has it; the other archs with the same windows (wider or deeper) get the edge residues
0, 1, 2, p / 2 and p - 1 of every stage. Batch 1, training mode, one backward.
"""
import math

import pytest
import torch

from vmlp_mm.families import get_family
from vmlp_testing import FAMILY_NAMES

pytestmark = pytest.mark.slow  # the size sweep (make test-all); test_contract covers any size

HEIGHT = 40  # a side that is no multiple of 32 either


def stage_sides(width):
    """Map side at strides 4..32 (every backbone pads its strided layers to ceil)."""
    return [math.ceil(width / 4 / 2**i) for i in range(4)]


def covering_widths(windows, edge_residues_only=False):
    """Few input widths whose stage sides reach every residue modulo every stage's window, and
    every residue of the input width modulo 32 (or only the edge residues, above)."""
    if edge_residues_only:
        needed = {(i, r % p) for i, p in enumerate(windows) for r in (0, 1, 2, p // 2, p - 1)}
    else:
        needed = {(i, r) for i, p in enumerate(windows) for r in range(p)} | {
            ('input', r) for r in range(32)}
    candidates = set(range(32, 64))
    for i, p in enumerate(windows):
        stride = 4 * 2**i
        for side in range(max(p, 2), 2 * max(p, 2) + 1):
            candidates.update(max(32, side * stride - k) for k in (0, stride // 2 + 1, stride - 1))

    def covers(width):
        return {(i, s % p) for i, (s, p) in enumerate(zip(stage_sides(width), windows))} | {
            ('input', width % 32)}

    chosen = []
    while needed:  # greedy set cover, smallest width on ties
        best = max(sorted(candidates), key=lambda w: len(covers(w) & needed))
        assert covers(best) & needed, f'no candidate width reaches {sorted(needed)}'
        chosen.append(best)
        needed -= covers(best)
    return sorted(chosen)


@pytest.mark.parametrize('family, arch', [(name, arch) for name in FAMILY_NAMES
                                          for arch in get_family(name).official_archs])
def test_finite_outputs_and_gradients_at_every_residue(family, arch):
    torch.manual_seed(0)
    cls = get_family(family).backbone
    model = cls(arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False).train()
    windows = cls.window_sides(model.arch_settings)
    smallest = next(a for a in get_family(family).official_archs
                    if cls.window_sides(cls.arch_zoo[a]) == windows)
    widths = covering_widths(windows, edge_residues_only=arch != smallest)
    for width in widths:
        x = torch.randn(1, 3, HEIGHT, width, requires_grad=True)
        outs = model(x)
        sum(o.float().square().mean() for o in outs).backward()
        bad = [i for i, o in enumerate(outs) if not torch.isfinite(o).all()]
        assert not bad, f'{cls.__name__}-{arch} at {HEIGHT}x{width}: non-finite outputs {bad}'
        assert torch.isfinite(x.grad).all(), f'{cls.__name__}-{arch} at {HEIGHT}x{width}: grads'
        bad = [n for n, p in model.named_parameters()
               if p.grad is not None and not torch.isfinite(p.grad).all()]
        assert not bad, f'{cls.__name__}-{arch} at {HEIGHT}x{width}: non-finite grads {bad[:3]}'
        model.zero_grad(set_to_none=True)
