"""ActiveMLP's offset sampling (the Active Token Mixer's W and H branches, before projection).

Each channel of a channels-last map ``x [B, H, W, C]`` is read along one axis at a learned,
unbounded, per-pixel offset: ``out[b, h, w, c] = x[b, h, p, c]`` at ``p = w + offset[b, h, w, c // S]``
(axis W; likewise along H), with 1-D linear interpolation between ``floor(p)`` and ``floor(p) + 1``
and zeros outside the map. ``S = C / offset.shape[-1]`` consecutive channels share one offset, so
the compact offsets ``[B, H, W, C / S]`` are passed as the offset layer produces them, never
repeated.

The official ATMOp computes the same through ``torchvision.ops.deform_conv2d`` with a 1x1 kernel
and the other half of a 2-D offset tensor zero (then the 1x1 projection). Here the projection
stays a matmul outside the op (``F.linear``): sampling is a gather with two reads per element,
the projection a dense GEMM that MKL/cuBLAS already run near peak; fusing the gather into a GEMM
operand load would need a custom GEMM for a few percent of the traffic.
"""
import torch

from .ext_loader import has_op, warn_reference_used

AXES = {'h': 1, 'w': 2}


def offset_sample_reference(x: torch.Tensor, offset: torch.Tensor, axis: int) -> torch.Tensor:
    """Pure-PyTorch offset sampling, same signature and semantics as :func:`offset_sample`."""
    if axis not in (1, 2):
        raise ValueError(f'axis must be 1 (H) or 2 (W), got {axis}')
    channels, groups = x.shape[-1], offset.shape[-1]
    if x.dim() != 4 or offset.shape[:3] != x.shape[:3] or channels % groups:
        raise ValueError(f'offset {tuple(offset.shape)} does not fit x {tuple(x.shape)}: expected '
                         '[B, H, W, C / S] for channels-last x [B, H, W, C]')
    size = x.shape[axis]
    delta = offset.repeat_interleave(channels // groups, dim=-1)
    coords = torch.arange(size, device=x.device, dtype=x.dtype).view(
        [size if d == axis else 1 for d in range(4)])
    pos = coords + delta
    p0 = torch.floor(pos)
    frac = pos - p0

    def tap(index):
        inside = (index >= 0) & (index < size)
        values = x.gather(axis, index.clamp(0, size - 1).long())
        return torch.where(inside, values, torch.zeros_like(values))

    return (1 - frac) * tap(p0) + frac * tap(p0 + 1)


def offset_sample(x: torch.Tensor, offset: torch.Tensor, axis: int) -> torch.Tensor:
    """Sample channels-last ``x [B, H, W, C]`` along ``axis`` (1 = H, 2 = W) at
    ``offset [B, H, W, C / S]`` (``torch.ops.vmlp_mm.offset_sample``); see the module docstring."""
    if _KERNEL_AVAILABLE:
        return torch.ops.vmlp_mm.offset_sample(x, offset, axis)
    warn_reference_used('offset_sample')
    return offset_sample_reference(x, offset, axis)


def _register_fake_and_autograd():
    """Meta kernels and autograd for the compiled op (torch.compile, opcheck, training)."""

    @torch.library.register_fake('vmlp_mm::offset_sample')
    def _(x, offset, axis):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @torch.library.register_fake('vmlp_mm::offset_sample_backward')
    def _(grad_out, x, offset, axis):
        return (torch.empty_like(x, memory_format=torch.contiguous_format),
                torch.empty_like(offset, memory_format=torch.contiguous_format))

    def setup_context(ctx, inputs, output):
        x, offset, axis = inputs
        ctx.save_for_backward(x, offset)
        ctx.axis = axis

    def backward(ctx, grad_out):
        x, offset = ctx.saved_tensors
        grad_x, grad_offset = torch.ops.vmlp_mm.offset_sample_backward(grad_out, x, offset,
                                                                       ctx.axis)
        return grad_x, grad_offset, None

    torch.library.register_autograd('vmlp_mm::offset_sample', backward,
                                    setup_context=setup_context)


_KERNEL_AVAILABLE = has_op('offset_sample')
if _KERNEL_AVAILABLE:
    _register_fake_and_autograd()
