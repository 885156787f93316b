"""Helpers shared by the tests (pytest puts tests/, the conftest's folder, on ``sys.path``).

Tests take what they share from here, never from each other.
"""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from vmlp_mm.families import FAMILIES, get_family
from vmlp_mm.ops import chunk_sizes, has_ext

#: the short names and backbone classes of every registered family (with the throwaway test
#: family when ``VMLP_TOY_FAMILY=1``: see ``toy_family.py``)
FAMILY_NAMES = list(FAMILIES)
BACKBONES = [family.backbone for family in FAMILIES.values()]


def by_name(cls) -> str:
    """Test ids that name the backbone class (``-k PosMLP`` selects its cases)."""
    return cls.__name__


def quick_first(values, ids=None) -> list:
    """Parameters of which the quick tier (``make test``) runs the first and ``make test-all``
    all: the rest are marked ``slow``. For runs whose cost is the point of nothing but coverage
    of more families, e.g. the per-family end-to-end training runs."""
    values = [v if isinstance(v, tuple) else (v, ) for v in values]  # tuples: several names
    ids = list(ids) if ids is not None else [None] * len(values)
    return [pytest.param(*v, id=i, marks=[pytest.mark.slow] if n else [])
            for n, (v, i) in enumerate(zip(values, ids))]


requires_ext = pytest.mark.skipif(not has_ext(), reason='vmlp_mm._ext is not built')
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])

# -- measured facts of the official models ------------------------------------------------------
# family, arch, input size, parameters with the 1000-class head (exact), GFLOPs (fvcore)
# (measured on the official code: ../shared/reference/ARCH_FACTS.md)
ARCH_FACTS = [
    ('msmlp', 'tiny', 224, 28_656_232, 4.451), ('msmlp', 'small', 224, 50_303_752, 8.687),
    ('msmlp', 'base', 224, 88_696_792, 15.361),
    ('posmlp', 'tiny', 224, 20_925_538, 5.193), ('posmlp', 'small', 224, 36_816_450, 8.726),
    ('stripmlp', 'tiny_light', 224, 18_243_920, 2.531),
    ('stripmlp', 'tiny', 224, 24_903_920, 3.665),
    ('stripmlp', 'small', 224, 42_568_600, 6.828), ('stripmlp', 'base', 224, 57_216_480, 9.214),
    ('activemlp', 'xtiny', 224, 15_349_128, 2.180), ('activemlp', 'tiny', 224, 27_152_232, 3.972),
    ('activemlp', 'small', 224, 38_631_448, 6.913), ('activemlp', 'base', 224, 52_154_792, 10.148),
    ('activemlp', 'large', 224, 76_238_032, 12.386),
    ('repmlp', 't224', 224, 38_293_608, 2.829), ('repmlp', 'b224', 224, 68_242_712, 6.717),
    ('repmlp', 't256', 256, 58_687_848, 4.285), ('repmlp', 'b256', 256, 96_447_512, 9.693),
    ('repmlp', 'd256', 256, 86_887_648, 8.691), ('repmlp', 'l256', 256, 117_641_560, 11.675),
]

# -- end-to-end runs of the tools on the demo data ----------------------------------------------
# a few iterations on a slice of each set
CLS_SHORT = ['train_cfg.max_epochs=2', 'train_cfg.val_interval=1',
             'train_dataloader.dataset.indices=64', 'val_dataloader.dataset.indices=32',
             'default_hooks.checkpoint.interval=1']
SEG_SHORT = ['train_cfg.max_iters=4', 'train_cfg.val_interval=4',
             'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2',
             'train_dataloader.dataset.indices=8', 'val_dataloader.dataset.indices=4']
DET_SHORT = ['train_cfg.max_epochs=1', 'train_dataloader.batch_size=2',
             'train_dataloader.dataset.indices=6', 'val_dataloader.dataset.indices=4']


def demo_config(model: str, task: str) -> str:
    """The demo config of a family and task, relative to the repository root."""
    return get_family(model).demo_config(task)


def cls_config(model: str) -> str:
    return demo_config(model, 'classification')


def seg_config(model: str) -> str:
    return demo_config(model, 'segmentation')


def det_config(model: str) -> str:
    return demo_config(model, 'detection')


def run_tool(repo_root, *args, env=None):
    """Run a script with this interpreter from the repository root; it must succeed."""
    result = subprocess.run([sys.executable, *args], cwd=repo_root, capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


# -- op arguments ----------------------------------------------------------------------------
MSMLP_SHIFTS = [-2, -1, 0, 1, 2]


def shift_mix_args(B, C, H, W, kernel_sizes, dtype, device, shifts=MSMLP_SHIFTS, seed=0):
    """``((x, weight_lr, bias_lr, weight_td, bias_td), shifts, kernel_sizes)`` of shift_mix,
    all requiring grad."""
    gen = torch.Generator().manual_seed(seed)
    sizes = chunk_sizes(C, len(shifts))
    n = sum(c * k * k for c, k in zip(sizes, kernel_sizes))

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype).to(device).requires_grad_()

    return (rand(B, C, H, W), rand(n), rand(C), rand(n), rand(C)), list(shifts), kernel_sizes


def positional_mix_args(G, R, rows, cols, dtype, device, seed=0, spread=0.5):
    """Grouped tokens ``x [G, R, rows * cols]`` and score coefficients ``[G, 5]`` of Gaussians
    (negative quadratic terms of up to ``spread``) in the op's dtype for ``dtype``, requiring
    grad."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(G, R, rows * cols, generator=gen, dtype=dtype)
    linear = torch.randn(G, 2, generator=gen)
    quadratic = -torch.rand(G, 2, generator=gen) * spread - 0.02
    cross = torch.randn(G, 1, generator=gen) * 0.2
    coefficients = torch.cat([linear, quadratic, cross], dim=-1)
    coefficients = coefficients.to(torch.float64 if dtype == torch.float64 else torch.float32)
    return x.to(device).requires_grad_(), coefficients.to(device).requires_grad_()


def offset_sample_args(B, H, W, C, S, dtype, device, scale=3., seed=0, special=True):
    """Channels-last ``x`` and offsets shared by ``S`` channels, requiring grad; ``special``
    adds integer and half-integer offsets and some far outside the map."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, H, W, C, generator=gen, dtype=dtype)
    offset = torch.randn(B, H, W, C // S, generator=gen, dtype=dtype) * scale
    if special:
        flat = offset.view(-1)
        k = flat.numel() // 5
        flat[:k] = torch.randint(-3, 4, (k, ), generator=gen).to(dtype)
        flat[k:2 * k] = torch.randint(-6, 6, (k, ), generator=gen).to(dtype) + 0.5
        flat[2 * k:2 * k + 2] = torch.tensor([1e4, -1e4], dtype=dtype)
    return x.to(device).requires_grad_(), offset.to(device).requires_grad_()


def randomize_batchnorms(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affines, so that a mis-mapped or mis-fused BN shows up
    (default ones make BN an identity and such tests weak)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                c = module.num_features
                module.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                module.weight.copy_(1 + torch.randn(c, generator=gen) * 0.1)
                module.bias.copy_(torch.randn(c, generator=gen) * 0.1)


def build_config_classifier(config: str, num_classes: int, **backbone_overrides):
    """The mmpretrain classifier of a classification config (random weights, eval mode) with
    ``num_classes`` outputs: what a converted or trained checkpoint must load into."""
    from mmengine.config import Config

    from vmlp_mm.utils.config_model import build_config_model
    cfg = Config.fromfile(config)
    cfg.model.head.num_classes = num_classes
    return build_config_model(cfg, **backbone_overrides)


def convert_official(model_name: str, official):
    """``(state_dict, arch, backbone_overrides)`` of an official state dict."""
    from vmlp_mm.families import get_family
    return get_family(model_name).convert(official)


def state_dict_from_manifest(path):
    """An authors' state dict: random tensors with the official keys and shapes of a manifest
    (tests/data/official_keys; PosMLP's constant offset buffers as the official model makes
    them)."""
    import json

    from vmlp_mm.ops.positional_mix import relative_offsets
    with open(path) as f:
        entries = json.load(f)
    gen = torch.Generator().manual_seed(0)
    return {key: relative_offsets(int(shape[0]**0.5), int(shape[0]**0.5)).permute(1, 2, 0)
            if key.endswith('rel_indices')
            else torch.randn(shape, generator=gen) for key, shape in entries}


def smallest_manifest(official_keys_dir, model_name):
    """The manifest of the family's smallest official model (fewest parameters)."""
    import glob
    import json
    import math

    def size(path):
        with open(path) as f:
            return sum(math.prod(shape) for _, shape in json.load(f))
    return min(glob.glob(osp.join(official_keys_dir, f'{model_name}_*.json')), key=size)
