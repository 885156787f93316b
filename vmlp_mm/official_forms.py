"""The layers we reformulated, as the official code formulates them, on our modules' weights.

Plain PyTorch ports of the published formulations (written here, not copied), used in two
places: the tests check that our reformulations compute the same thing, and
``tools/analysis/benchmark_ops.py`` times both side by side.
"""
import copy
import functools
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


def shift_mix_official(x: torch.Tensor, shifts: Sequence[int], convs_lr: Sequence[nn.Module],
                       convs_td: Sequence[nn.Module]) -> torch.Tensor:
    """MS-MLP's MixShiftBlock token mixing: chunk the channels, roll each chunk along W (and H),
    a depthwise conv per chunk, concatenate, add the two directions."""
    chunks = torch.chunk(x, len(shifts), 1)
    lr = torch.cat([conv(torch.roll(c, s, 3)) for c, s, conv in zip(chunks, shifts, convs_lr)], 1)
    td = torch.cat([conv(torch.roll(c, s, 2)) for c, s, conv in zip(chunks, shifts, convs_td)], 1)
    return lr + td


def atm_deform_conv2d(x: torch.Tensor, offset: torch.Tensor, axis: int, weight: torch.Tensor,
                      bias: torch.Tensor) -> torch.Tensor:
    """ActiveMLP's ATMOp on channels-last ``x`` with per-channel ``offset`` shared by groups of
    channels: ``deform_conv2d`` with a 1x1 kernel and the other half of its 2-D offset zero."""
    from torchvision.ops import deform_conv2d
    b, h, w, c = x.shape
    full = offset.repeat_interleave(c // offset.shape[-1], dim=-1).permute(0, 3, 1, 2)
    offset_2d = torch.zeros(b, 2 * c, h, w, dtype=x.dtype, device=x.device)
    if axis == 2:
        offset_2d[:, 1::2] += full  # torchvision's dx slots
    else:
        offset_2d[:, 0::2] += full  # dy slots
    return deform_conv2d(x.permute(0, 3, 1, 2), offset_2d, weight, bias).permute(0, 2, 3, 1)


def strip_fc_official(fc: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Strip-MLP's proj_h / proj_w on an ``S x S`` map: grouped (1, 3) convs over views whose
    channels are (group, token)."""
    b, c, s, _ = x.shape
    g = fc.groups
    c1 = c // g
    if fc.along == 'w':  # rows: token channels = (group, w), conv along h
        view = x.view(b, c1, g, s, s).permute(0, 1, 3, 2, 4).reshape(b, c1, s, g * s)
        out = F.conv2d(view.permute(0, 3, 1, 2), fc.weight, fc.bias, padding=(0, 1), groups=g)
        out = out.permute(0, 2, 3, 1).reshape(b, c1, s, g, s).permute(0, 1, 3, 2, 4)
    else:  # columns: token channels = (group, h), conv along w
        view = x.reshape(b, c1, g * s, s).permute(0, 2, 1, 3)
        out = F.conv2d(view, fc.weight, fc.bias, padding=(0, 1), groups=g)
        out = out.permute(0, 2, 1, 3)
    return out.reshape(b, c, s, s)


def posmlp_mixing_official(mixer: nn.Module, u: torch.Tensor, gate: torch.Tensor,
                           grid) -> torch.Tensor:
    """PosMLP's PoSGU + QuaMap on full square windows: tokens ``[B, windows, N, C]`` with
    channels split ``(v s)`` into groups, one einsum with the ``[N, N, G]`` positional maps, the
    token bias, then the gate. Takes and returns the block's channel-first ``[C, B, T]``
    features (channels group-major) laid out by ``grid`` (whose windows must all be full), so
    it starts and ends with the official token layout's permutes."""
    (rows, cols), g = grid.window, mixer.groups
    c, b, t = u.shape
    n = rows * cols
    x = u.view(g, c // g, b, t // n, n).permute(2, 3, 4, 1, 0)  # 'b w n v s'
    posmap = mixer.position_maps(rows, cols).to(u.dtype).permute(1, 2, 0)  # 'm n s'
    x = torch.einsum('mns,bwnvs->bwmvs', posmap, x)
    x = x + mixer.window_bias(grid.window).reshape(1, 1, n, 1, 1).to(x.dtype)
    return x.permute(4, 3, 0, 1, 2).reshape(c, b, t) * gate


def with_official_formulations(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (same weights) whose reformulated layers run the official
    formulations: PosMLP's positional mixing and Strip-MLP's strip FCs above, Strip-MLP's GRN as
    its five-op expression (autograd's backward) and its depthwise convolutions as
    ``nn.Conv2d`` (oneDNN's/cuDNN's backward). The classes and ``model`` are left as they are;
    the memory format is (Strip-MLP's blocks stay channels-last)."""
    from .backbones.posmlp import QuadraticPositionalMixing
    from .backbones.stripmlp import GRN, StripFC, grn_reference
    from .ops import DepthwiseConv2d
    official = copy.deepcopy(model)
    for module in official.modules():
        if isinstance(module, QuadraticPositionalMixing):
            module.forward = functools.partial(posmlp_mixing_official, module)
        elif isinstance(module, StripFC):
            module.forward = functools.partial(strip_fc_official, module)
        elif isinstance(module, GRN):
            module.forward = functools.partial(
                lambda grn, x: grn_reference(x, grn.gamma, grn.beta, grn.eps), module)
        elif isinstance(module, DepthwiseConv2d):
            module.forward = functools.partial(nn.Conv2d.forward, module)
    return official
