"""PosMLP's positional mixing (GQPE) inside one window shape, as one op.

For grouped tokens ``x [G, R, N]`` -- channel group ``g``'s ``R`` rows (its channels of every
window) over the ``N = rows * cols`` tokens of a window (token ``t = row * cols + col``):

    out[g, r, m] = sum_n softmax_n(score_g(m, n)) * x[g, r, n]
    score_g(m, n) = coefficients[g] . (dx, dy, dx^2, dy^2, dx dy)

with ``dx = col(n) - col(m)``, ``dy = row(m) - row(n)`` (the official signs, see
:func:`relative_offsets`). The coefficients are the Gaussian's (``QuadraticPositionalMixing``);
the token bias and the gate stay outside the op (elementwise, nothing of size N^2). Tokens come
last and each group's rows together because that is the layout of the op's GEMMs
(``out[g] = x[g] P_g^T``): PosMLP's blocks produce it directly (channel-first hidden features,
groups contiguous), so the op copies nothing on the way in or out.

The scores and the softmax are computed in float32 (float64 for float64 inputs; offsets up to the
window side, squared, lose whole units in bfloat16), so the coefficients are passed in that dtype.

The kernels never form the ``[G, N, N]`` maps of a whole window or their gradients: the targets
are cut into tiles whose weights are formed, used by one batched GEMM and dropped; the backward
recomputes each tile and reduces it into the gradients of ``x`` and of the coefficients. Memory
is the inputs' plus one tile (at most 1 Mi weights), independent of N^2 (csrc/pytorch/
positional_mix.cpp). The reference is the formulation PosMLP used before: the maps of all groups,
soft-maxed, kept by autograd for the backward.
"""
import torch

from .kernel_op import KernelOp


def relative_offsets(rows: int, cols: int) -> torch.Tensor:
    """``[5, N, N]`` features ``(dx, dy, dx^2, dy^2, dx*dy)`` of source n relative to target m
    in a ``rows x cols`` window (token t = row * cols + col), with the official signs:
    ``dx = col(n) - col(m)`` but ``dy = row(m) - row(n)``; the learned centres carry these
    signs."""
    row = torch.arange(rows).repeat_interleave(cols)
    col = torch.arange(cols).repeat(rows)
    dx = (col[None, :] - col[:, None]).float()
    dy = (row[:, None] - row[None, :]).float()
    return torch.stack([dx, dy, dx * dx, dy * dy, dx * dy])


def score_dtype(x_dtype: torch.dtype) -> torch.dtype:
    """The dtype of the scores and of the coefficients for inputs of ``x_dtype``."""
    return torch.float64 if x_dtype == torch.float64 else torch.float32


def _check_args(x: torch.Tensor, coefficients: torch.Tensor, rows: int, cols: int):
    # the kernels' checks (check_args in positional_mix.cpp), with the same messages
    if rows < 1 or cols < 1:
        raise ValueError(f'positional_mix: the window must be at least 1 x 1, got {rows} x {cols}')
    if x.dim() != 3 or x.shape[2] != rows * cols:
        raise ValueError(f'positional_mix: x must be [G, R, N] with N = rows * cols = '
                         f'{rows * cols} tokens of one window last, got {list(x.shape)}')
    if (coefficients.dim() != 2 or coefficients.shape[1] != 5
            or coefficients.shape[0] != x.shape[0]):
        raise ValueError(f'positional_mix: coefficients must be [G, 5] for x\'s G = '
                         f'{x.shape[0]} groups, got {list(coefficients.shape)}')
    if coefficients.dtype != score_dtype(x.dtype) or coefficients.device != x.device:
        raise TypeError(
            f'positional_mix: coefficients are {coefficients.dtype} on {coefficients.device} but '
            f'x is {x.dtype} on {x.device}; pass them as {score_dtype(x.dtype)} on x\'s device '
            '(scores are computed in float32 for float32 and half inputs, float64 for float64)')


def positional_maps(coefficients: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``[G, N, N]`` mixing weights of a ``rows x cols`` window, in the coefficients' dtype: row
    m holds target m's softmax over the source tokens."""
    features = relative_offsets(rows, cols).to(coefficients)
    scores = coefficients @ features.view(5, -1)  # one [G, 5] @ [5, N * N] GEMM
    return scores.view(-1, rows * cols, rows * cols).softmax(-1)


def positional_mix_reference(x: torch.Tensor, coefficients: torch.Tensor, rows: int,
                             cols: int) -> torch.Tensor:
    """Pure-PyTorch positional mixing, same signature and semantics as :func:`positional_mix`:
    the maps of every group, then one batched GEMM over the groups in x's dtype."""
    _check_args(x, coefficients, rows, cols)
    maps = positional_maps(coefficients, rows, cols).to(x.dtype)
    return torch.bmm(x, maps.transpose(1, 2))


def positional_mix(x: torch.Tensor, coefficients: torch.Tensor, rows: int,
                   cols: int) -> torch.Tensor:
    """Fused positional mixing (``torch.ops.vmlp_mm.positional_mix``); see the module docstring.

    Under autocast ``x`` runs in the autocast dtype (as for a matmul) and the coefficients in
    float32; otherwise the coefficients must be in :func:`score_dtype` of x's dtype.

    Args:
        x: ``[G, R, N]`` grouped tokens: R rows per channel group over a ``rows x cols`` window.
        coefficients: ``[G, 5]`` score coefficients of the G channel groups.
        rows, cols: the window's shape.
    """
    return POSITIONAL_MIX(x, coefficients, rows, cols)


def _fake(x, coefficients, rows, cols):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _backward_fake(grad_out, x, coefficients, rows, cols):
    return (torch.empty_like(x, memory_format=torch.contiguous_format),
            torch.empty_like(coefficients))


def _setup_context(ctx, inputs, output):
    x, coefficients, rows, cols = inputs
    ctx.save_for_backward(x, coefficients)
    ctx.window = rows, cols


def _backward(ctx, grad_out):
    x, coefficients = ctx.saved_tensors
    grad_x, grad_coefficients = torch.ops.vmlp_mm.positional_mix_backward(
        grad_out, x, coefficients, *ctx.window)
    return grad_x, grad_coefficients, None, None


def _autocast_args(dtype, x, coefficients, rows, cols):
    return x.to(dtype), coefficients.to(score_dtype(dtype)), rows, cols


POSITIONAL_MIX = KernelOp('positional_mix', positional_mix_reference, _fake, _backward_fake,
                          _setup_context, _backward, autocast_args=_autocast_args)
