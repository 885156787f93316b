"""ActiveMLP's offset sampling (the Active Token Mixer's W and H branches, before projection).

Each channel of a channels-last map ``x [B, H, W, C]`` is read along one axis at a learned,
unbounded, per-pixel offset: ``out[b, h, w, c] = x[b, h, p, c]`` at
``p = w + offset[b, h, w, c // S]`` (axis W; likewise along H), with 1-D linear interpolation
between ``floor(p)`` and ``floor(p) + 1`` and zeros outside the map. ``S = C / offset.shape[-1]``
consecutive channels share one offset, so the compact offsets ``[B, H, W, C / S]`` are passed as
the offset layer produces them, never repeated.

Non-finite offsets (NaN, +-inf) sample nowhere: the output is zero there and so are the gradients
of ``x`` and of the offset, in the kernels and the reference alike (as for an offset far outside
the map). The official op (torchvision's ``deform_conv2d``) leaves NaN undefined; raising instead
would cost a device synchronisation per call, and a NaN offset has a NaN source that the other
branches of the block carry into the loss anyway.

The official ATMOp computes the same through ``torchvision.ops.deform_conv2d`` with a 1x1 kernel
and the other half of a 2-D offset tensor zero (then the 1x1 projection). Here the projection
stays a matmul outside the op (``F.linear``): sampling is a gather with two reads per element,
the projection a dense GEMM that MKL/cuBLAS already run near peak; fusing the gather into a GEMM
operand load would need a custom GEMM for a few percent of the traffic.
"""
import torch

from .kernel_op import KernelOp

AXES = {'h': 1, 'w': 2}


def offset_sample_reference(x: torch.Tensor, offset: torch.Tensor, axis: int) -> torch.Tensor:
    """Pure-PyTorch offset sampling, same signature and semantics as :func:`offset_sample`."""
    if axis not in (1, 2):
        raise ValueError(f'axis must be 1 (H) or 2 (W), got {axis}')
    channels, groups = x.shape[-1], offset.shape[-1]
    if x.dim() != 4 or offset.shape[:3] != x.shape[:3] or channels % groups:
        raise ValueError(f'offset {tuple(offset.shape)} does not fit x {tuple(x.shape)}: expected '
                         '[B, H, W, C / S] for channels-last x [B, H, W, C]')
    if offset.dtype != x.dtype:
        raise TypeError(f'offset_sample: offset is {offset.dtype} but x is {x.dtype}; pass both '
                        'in one dtype (under torch.autocast the offsets are cast to x\'s dtype)')
    size = x.shape[axis]
    # positions and weights in float32 at least: in bfloat16, 200 + 0.3 is a whole pixel
    opmath = torch.promote_types(x.dtype, torch.float32)
    delta = offset.to(opmath).repeat_interleave(channels // groups, dim=-1)
    coords = torch.arange(size, device=x.device, dtype=opmath).view(
        [size if d == axis else 1 for d in range(4)])
    pos = coords + delta
    # non-finite positions lie nowhere (see the module docstring): moved outside the map, with
    # zero gradient through torch.where
    pos = torch.where(torch.isfinite(pos), pos, torch.full_like(pos, -2.))
    p0 = torch.floor(pos)
    frac = pos - p0

    def tap(index):
        inside = (index >= 0) & (index < size)
        values = x.gather(axis, index.clamp(0, size - 1).long()).to(opmath)
        return torch.where(inside, values, torch.zeros_like(values))

    return ((1 - frac) * tap(p0) + frac * tap(p0 + 1)).to(x.dtype)


def offset_sample(x: torch.Tensor, offset: torch.Tensor, axis: int) -> torch.Tensor:
    """Sample channels-last ``x [B, H, W, C]`` along ``axis`` (1 = H, 2 = W) at
    ``offset [B, H, W, C / S]`` (``torch.ops.vmlp_mm.offset_sample``); see the module docstring.

    Output and gradients are in ``x``'s dtype; positions and interpolation weights are computed
    in float32 (or float64) whatever that dtype. Under autocast the offsets are cast to ``x``'s
    dtype (they may come from a layer that autocast runs in another dtype); otherwise both must
    share one dtype.
    """
    return OFFSET_SAMPLE(x, offset, axis)


def _fake(x, offset, axis):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _backward_fake(grad_out, x, offset, axis):
    return (torch.empty_like(x, memory_format=torch.contiguous_format),
            torch.empty_like(offset, memory_format=torch.contiguous_format))


def _setup_context(ctx, inputs, output):
    x, offset, axis = inputs
    ctx.save_for_backward(x, offset)
    ctx.axis = axis


def _backward(ctx, grad_out):
    x, offset = ctx.saved_tensors
    grad_x, grad_offset = torch.ops.vmlp_mm.offset_sample_backward(grad_out, x, offset, ctx.axis)
    return grad_x, grad_offset, None


def _offsets_in_x_dtype(dtype, x, offset, axis):
    """Autocast leaves the sampled map alone (a gather, like ``grid_sample`` it keeps its input's
    dtype) and brings the offsets to it."""
    return x, offset.to(x.dtype), axis


OFFSET_SAMPLE = KernelOp('offset_sample', offset_sample_reference, _fake, _backward_fake,
                         _setup_context, _backward, autocast_args=_offsets_in_x_dtype)
