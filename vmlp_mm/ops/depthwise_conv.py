"""Depthwise convolution with stride 1, zero padding ``k // 2`` ("same") and no bias, on
channels-last maps: Strip-MLP's 7x7 channel-mixing and 3x7 token-mixing convolutions.

It is ``F.conv2d(x, weight, padding=(kh // 2, kw // 2), groups=C)``, with ATen's (oneDNN's,
cuDNN's) convolution for the forward pass and the input gradient (a forward convolution with the
flipped kernel) and a weight gradient of ours. The op exists for training on CPU: oneDNN's weight
gradient takes 2-4x longer than ours for 7-wide kernels on Strip-MLP-T's shapes, and it was the
largest cost of its training step after the GEMMs (``tools/analysis/benchmark_ops.py --only
depthwise_conv``, docs/benchmarks.md). For 3-wide kernels it gains nothing consistent.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from .kernel_op import KernelOp, cast_to_autocast_dtype


def depthwise_conv2d_reference(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Pure-PyTorch depthwise convolution, same signature and semantics as
    :func:`depthwise_conv2d`."""
    kh, kw = weight.shape[-2:]
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f'depthwise_conv2d: the kernel must have odd sides (the output keeps the '
                         f'input size with padding k // 2), got {kh}x{kw}')
    return F.conv2d(x, weight, padding=(kh // 2, kw // 2), groups=x.shape[1])


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Depthwise convolution of ``x [B, C, H, W]`` with ``weight [C, 1, kh, kw]`` (odd sides),
    stride 1, zero padding ``k // 2``, no bias (``torch.ops.vmlp_mm.depthwise_conv2d``).

    Returns a channels-last ``[B, C, H, W]`` tensor. Under autocast it runs in the autocast
    dtype, as ``conv2d`` does; otherwise both tensors must share one dtype.
    """
    return DEPTHWISE_CONV2D(x, weight)


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(C, C, kernel_size, padding=k // 2, groups=C, bias=False)`` (same parameter,
    initialisation and state dict) whose CPU forward and backward run :func:`depthwise_conv2d`.

    On other devices it is ``nn.Conv2d``: cuDNN's depthwise kernels are tuned per GPU, and ours
    have not been timed against them on one (``tools/gpu_check.sh`` does).
    """

    def __init__(self, channels: int, kernel_size):
        kh, kw = _pair(kernel_size)
        super().__init__(channels, channels, (kh, kw), padding=(kh // 2, kw // 2),
                         groups=channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == 'cpu':
            return depthwise_conv2d(x, self.weight)
        return super().forward(x)


def _fake(x, weight):
    return torch.empty_like(x, memory_format=torch.channels_last)


def _backward_fake(grad_out, x, weight):
    return (torch.empty_like(x, memory_format=torch.channels_last),
            torch.empty_like(weight, memory_format=torch.contiguous_format))


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad_out):
    x, weight = ctx.saved_tensors
    return torch.ops.vmlp_mm.depthwise_conv2d_backward(grad_out, x, weight)


DEPTHWISE_CONV2D = KernelOp('depthwise_conv2d', depthwise_conv2d_reference, _fake,
                            _backward_fake, _setup_context, _backward,
                            autocast_args=cast_to_autocast_dtype)
