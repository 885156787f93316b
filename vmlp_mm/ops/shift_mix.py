"""MS-MLP's mix-and-shift token mixing as one op.

Semantics of the official ``MixShiftBlock`` (JegZheng/MS-MLP): the channels are split as
``torch.chunk(x, G, dim=1)`` does (groups of ceil(C/G) channels, the last one smaller). Group g is
rolled cyclically by ``shifts[g]`` along W for one branch and along H for the other; each rolled
group then goes through its own depthwise ``k x k`` convolution (``k = kernel_sizes[g]``, zero
padding k//2, with bias), and the two branches are summed.

Depthwise weights are passed packed: for every channel in order, its ``k*k`` taps, i.e.
``torch.cat([conv.weight.flatten() for conv in group_convs])`` (:func:`pack_depthwise`).
"""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .kernel_op import KernelOp, cast_to_autocast_dtype


def chunk_sizes(channels: int, num_groups: int) -> List[int]:
    """Channel counts of ``torch.chunk(x, num_groups, dim=1)`` (may be fewer than num_groups)."""
    chunk = -(-channels // num_groups)
    return [min(chunk, channels - start) for start in range(0, channels, chunk)]


def pack_depthwise(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Pack depthwise conv weights ``[C_g, 1, k_g, k_g]`` into the op's flat layout."""
    return torch.cat([w.reshape(-1) for w in weights])


def _unpack_depthwise(packed, sizes, kernel_sizes):
    numels = [c * k * k for c, k in zip(sizes, kernel_sizes)]
    return [w.view(c, 1, k, k) for w, c, k in zip(packed.split(numels), sizes, kernel_sizes)]


def shift_mix_reference(x: torch.Tensor, weight_lr: torch.Tensor, bias_lr: torch.Tensor,
                        weight_td: torch.Tensor, bias_td: torch.Tensor, shifts: Sequence[int],
                        kernel_sizes: Sequence[int]) -> torch.Tensor:
    """Pure-PyTorch shift-mix, written as the official chunk / roll / conv sequence."""
    sizes = chunk_sizes(x.shape[1], len(shifts))
    kernel_sizes = list(kernel_sizes)[:len(sizes)]
    outs = []
    for xg, s, k, w_lr, b_lr, w_td, b_td in zip(
            x.split(sizes, dim=1), shifts, kernel_sizes,
            _unpack_depthwise(weight_lr, sizes, kernel_sizes), bias_lr.split(sizes),
            _unpack_depthwise(weight_td, sizes, kernel_sizes), bias_td.split(sizes)):
        lr = F.conv2d(torch.roll(xg, s, 3), w_lr, b_lr, padding=k // 2, groups=xg.shape[1])
        td = F.conv2d(torch.roll(xg, s, 2), w_td, b_td, padding=k // 2, groups=xg.shape[1])
        outs.append(lr + td)
    return torch.cat(outs, dim=1)


def shift_mix(x: torch.Tensor, weight_lr: torch.Tensor, bias_lr: torch.Tensor,
              weight_td: torch.Tensor, bias_td: torch.Tensor, shifts: Sequence[int],
              kernel_sizes: Sequence[int]) -> torch.Tensor:
    """Fused shift-mix (``torch.ops.vmlp_mm.shift_mix``); see the module docstring.

    Under autocast it runs in the autocast dtype, weights and biases cast with the input, as
    ``conv2d`` does; otherwise all tensors must share one dtype.

    Args:
        x: ``[B, C, H, W]`` input.
        weight_lr, weight_td: packed depthwise weights of the W-shift and H-shift branches.
        bias_lr, bias_td: ``[C]`` biases of the two branches.
        shifts: cyclic shift of each channel group (torch.roll's sign convention).
        kernel_sizes: odd depthwise kernel size of each channel group.
    """
    return SHIFT_MIX(x, weight_lr, bias_lr, weight_td, bias_td, list(shifts), list(kernel_sizes))


class ShiftMix(nn.Module):
    """MS-MLP's token mixer: per-group depthwise convs of two shifted branches, summed.

    The parameters are the official ``dwconv_lr.{g}`` / ``dwconv_td.{g}`` convolutions (so the
    official checkpoints load by name, and the convolutions keep PyTorch's default init, as in the
    official model); the forward packs them for the fused op.

    Args:
        channels: number of channels C.
        shifts: cyclic shift of each of the G channel groups.
        kernel_sizes: odd depthwise kernel size of each group.
    """

    def __init__(self, channels: int, shifts: Sequence[int], kernel_sizes: Sequence[int]):
        super().__init__()
        if len(shifts) != len(kernel_sizes):
            raise ValueError(f'ShiftMix needs one kernel size per shift, got shifts={shifts} '
                             f'and kernel_sizes={kernel_sizes}')
        sizes = chunk_sizes(channels, len(shifts))
        self.shifts = list(shifts)[:len(sizes)]
        self.kernel_sizes = list(kernel_sizes)[:len(sizes)]
        self.dwconv_lr = nn.ModuleList(
            nn.Conv2d(c, c, k, padding=k // 2, groups=c) for c, k in zip(sizes, self.kernel_sizes))
        self.dwconv_td = nn.ModuleList(
            nn.Conv2d(c, c, k, padding=k // 2, groups=c) for c, k in zip(sizes, self.kernel_sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shift_mix(x, pack_depthwise([c.weight for c in self.dwconv_lr]),
                         torch.cat([c.bias for c in self.dwconv_lr]),
                         pack_depthwise([c.weight for c in self.dwconv_td]),
                         torch.cat([c.bias for c in self.dwconv_td]), self.shifts,
                         self.kernel_sizes)

    def extra_repr(self) -> str:
        return f'shifts={self.shifts}, kernel_sizes={self.kernel_sizes}'


def _fake(x, weight_lr, bias_lr, weight_td, bias_td, shifts, kernel_sizes):
    # the kernels work channels-last and return [B, C, H, W] tensors in that memory format
    return torch.empty_like(x, memory_format=torch.channels_last)


def _backward_fake(grad_out, x, weight_lr, weight_td, shifts, kernel_sizes):
    return (torch.empty_like(x, memory_format=torch.channels_last), torch.empty_like(weight_lr),
            torch.empty_like(weight_td))


def _setup_context(ctx, inputs, output):
    x, weight_lr, _, weight_td, _, shifts, kernel_sizes = inputs
    ctx.save_for_backward(x, weight_lr, weight_td)
    ctx.shifts, ctx.kernel_sizes = shifts, kernel_sizes


def _backward(ctx, grad_out):
    x, weight_lr, weight_td = ctx.saved_tensors
    grad_x, grad_weight_lr, grad_weight_td = torch.ops.vmlp_mm.shift_mix_backward(
        grad_out, x, weight_lr, weight_td, ctx.shifts, ctx.kernel_sizes)
    grad_bias = grad_out.sum((0, 2, 3))  # both branches add their bias to every position
    return grad_x, grad_weight_lr, grad_bias, grad_weight_td, grad_bias, None, None


SHIFT_MIX = KernelOp('shift_mix', shift_mix_reference, _fake, _backward_fake, _setup_context,
                     _backward, autocast_args=cast_to_autocast_dtype)
