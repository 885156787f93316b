"""The ops in float16 and bfloat16, cast and under autocast, kernel and reference alike."""
import pytest
import torch

from vmlp_mm.ops import (
    depthwise_conv2d,
    depthwise_conv2d_reference,
    has_ext,
    offset_sample,
    offset_sample_reference,
    positional_mix,
    positional_mix_reference,
    reference_ops,
    shift_mix,
    shift_mix_reference,
)
from vmlp_testing import DEVICES
from vmlp_testing import offset_sample_args as offset_args
from vmlp_testing import positional_mix_args as positional_args
from vmlp_testing import shift_mix_args as shift_args

HALF = [(torch.float16, 2e-2), (torch.bfloat16, 5e-2)]  # relative to the outputs' scale
PATHS = (['kernel'] if has_ext() else []) + ['reference']


def run_path(path, fn, *args):
    if path == 'reference':
        with reference_ops():
            return fn(*args)
    return fn(*args)


def assert_close_in(actual, expected, tol):
    assert actual.dtype != torch.float32 or expected.dtype == torch.float32
    scale = expected.abs().max().clamp_min(1)
    assert (actual.float() - expected.float()).abs().max() <= tol * scale


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('dtype,tol', HALF)
@pytest.mark.parametrize('shape', [(2, 97, 11, 7), (1, 20, 5, 13)])
def test_shift_mix_half_against_float32(device, path, dtype, tol, shape):
    args, shifts, ks = shift_args(*shape, [1, 3, 3, 5, 7], torch.float32, device)
    half = [a.detach().to(dtype).requires_grad_() for a in args]
    out = run_path(path, shift_mix, *half, shifts, ks)
    ref = shift_mix_reference(*args, shifts, ks)
    assert out.dtype == dtype
    assert_close_in(out, ref, tol)
    grad = torch.randn_like(ref)
    grads = torch.autograd.grad(out, half, grad.to(dtype))
    refs = torch.autograd.grad(ref, args, grad)
    for g, r in zip(grads, refs):
        assert g.dtype == dtype
        assert_close_in(g, r, tol)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('dtype,tol', HALF)
def test_shift_mix_under_autocast_runs_like_conv2d(device, path, dtype, tol):
    """float32 weights, float32 input: the op runs in the autocast dtype, gradients reach the
    float32 parameters in float32."""
    args, shifts, ks = shift_args(2, 20, 9, 10, [1, 3, 3, 5, 7], torch.float32, device)
    with torch.autocast(device, dtype=dtype):
        out = run_path(path, shift_mix, *args, shifts, ks)
    assert out.dtype == dtype
    ref = shift_mix_reference(*args, shifts, ks)
    assert_close_in(out, ref, tol)
    out.float().sum().backward()
    assert all(a.grad.dtype == torch.float32 and torch.isfinite(a.grad).all() for a in args)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('dtype,tol', HALF)
@pytest.mark.parametrize('kernel', [(7, 7), (3, 7)])
def test_depthwise_conv2d_half_and_autocast(device, path, dtype, tol, kernel):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 13, 9, 6, generator=gen).to(device).requires_grad_()
    weight = torch.randn(13, 1, *kernel, generator=gen).to(device).requires_grad_()
    ref = depthwise_conv2d_reference(x, weight)
    grad = torch.randn_like(ref)
    refs = torch.autograd.grad(ref, (x, weight), grad)
    half = [t.detach().to(dtype).requires_grad_() for t in (x, weight)]
    out = run_path(path, depthwise_conv2d, *half)
    assert out.dtype == dtype
    assert_close_in(out, ref, tol)
    for g, r in zip(torch.autograd.grad(out, half, grad.to(dtype)), refs):
        assert g.dtype == dtype
        assert_close_in(g, r, tol)
    # float32 tensors under autocast: the op runs in the autocast dtype, as conv2d does
    with torch.autocast(device, dtype=dtype):
        out = run_path(path, depthwise_conv2d, x, weight)
    assert out.dtype == dtype
    assert_close_in(out, ref, tol)
    out.float().sum().backward()
    assert x.grad.dtype == weight.grad.dtype == torch.float32


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('dtype,tol', HALF)
@pytest.mark.parametrize('axis', [1, 2])
def test_offset_sample_half_against_float32(device, path, dtype, tol, axis):
    x, offset = offset_args(2, 7, 9, 8, 2, torch.float32, device)
    hx, hoff = (t.detach().to(dtype).requires_grad_() for t in (x, offset))
    out = run_path(path, offset_sample, hx, hoff, axis)
    # the reference at the half inputs' values, in float32
    ref = offset_sample_reference(hx.detach().float().requires_grad_(),
                                  hoff.detach().float().requires_grad_(), axis)
    assert out.dtype == dtype
    assert_close_in(out, ref, tol)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('path', PATHS)
def test_offset_sample_positions_are_float32_in_bfloat16(device, path):
    """Position 200 + 0.3 is the whole pixel 200 in bfloat16 (8-bit significand): the output
    there must still be 0.3 of the way to pixel 201, and the offset gradient must not vanish."""
    x = torch.zeros(1, 1, 256, 2, device=device)
    x[0, 0, 201] = 1
    offset = torch.full((1, 1, 256, 1), 0.3, device=device)
    xb, ob = x.bfloat16().requires_grad_(), offset.bfloat16().requires_grad_()
    out = run_path(path, offset_sample, xb, ob, 2)
    assert abs(float(out.detach()[0, 0, 200, 0]) - 0.3) < 0.01  # bfloat16 positions would give 0
    out[0, 0, 200].sum().backward()
    assert float(ob.grad[0, 0, 200, 0]) == pytest.approx(2.)  # two channels, slope 1 each


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('x_dtype,offset_dtype', [(torch.bfloat16, torch.float32),
                                                  (torch.float32, torch.bfloat16)])
def test_offset_sample_accepts_mixed_dtypes_under_autocast(device, path, x_dtype, offset_dtype):
    x, offset = offset_args(1, 5, 6, 8, 2, torch.float32, device)
    x, offset = x.detach().to(x_dtype), offset.detach().to(offset_dtype).requires_grad_()
    with torch.autocast(device, dtype=torch.bfloat16):
        out = run_path(path, offset_sample, x, offset, 2)
    assert out.dtype == x_dtype
    out.float().sum().backward()
    assert offset.grad.dtype == offset_dtype


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('dtype,tol', HALF)
@pytest.mark.parametrize('window', [(14, 14), (5, 3)])
def test_positional_mix_half_and_autocast(device, path, dtype, tol, window):
    """Half tokens with float32 coefficients (the scores stay float32), cast and under autocast,
    against the float32 op; gradients reach float32 coefficients in float32."""
    rows, cols = window
    x, coefficients = positional_args(8, 6, rows, cols, torch.float32, device)
    ref = positional_mix_reference(x, coefficients, rows, cols)
    grad = torch.randn_like(ref)
    refs = torch.autograd.grad(ref, (x, coefficients), grad)
    hx = x.detach().to(dtype).requires_grad_()
    out = run_path(path, positional_mix, hx, coefficients, rows, cols)
    assert out.dtype == dtype
    assert_close_in(out, ref, tol)
    gx, gc = torch.autograd.grad(out, (hx, coefficients), grad.to(dtype))
    assert gx.dtype == dtype and gc.dtype == torch.float32
    assert_close_in(gx, refs[0], tol)
    assert_close_in(gc, refs[1], tol)
    with torch.autocast(device, dtype=dtype):
        out = run_path(path, positional_mix, x, coefficients, rows, cols)
    assert out.dtype == dtype
    assert_close_in(out, ref, tol)
    out.float().sum().backward()
    assert x.grad.dtype == coefficients.grad.dtype == torch.float32


@pytest.mark.parametrize('path', PATHS)
def test_mixed_dtypes_outside_autocast_name_both(path):
    x, offset = offset_args(1, 5, 6, 8, 2, torch.float32, 'cpu')
    with pytest.raises((RuntimeError, TypeError), match='(?s)BFloat16.*Float|bfloat16.*float32'):
        run_path(path, offset_sample, x.detach(), offset.detach().bfloat16(), 2)
    args, shifts, ks = shift_args(1, 10, 4, 4, [1, 3, 3, 5, 7], torch.float32, 'cpu')
    args = [a.detach() for a in args]
    args[1] = args[1].bfloat16()
    if path == 'kernel':
        with pytest.raises(RuntimeError, match='BFloat16 on cpu but x is Float'):
            shift_mix(*args, shifts, ks)


@pytest.mark.skipif(not has_ext(), reason='vmlp_mm._ext is not built')
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_opcheck_half(dtype):
    x, offset = offset_args(2, 5, 6, 8, 2, dtype, 'cpu', special=False)
    torch.library.opcheck(torch.ops.vmlp_mm.offset_sample.default, (x, offset, 2))
    args, shifts, ks = shift_args(2, 12, 5, 6, [1, 3, 3, 5, 7], dtype, 'cpu')
    torch.library.opcheck(torch.ops.vmlp_mm.shift_mix.default, (*args, shifts, ks))
    x, weight = torch.randn(2, 6, 5, 7, dtype=dtype), torch.randn(6, 1, 3, 7, dtype=dtype)
    torch.library.opcheck(torch.ops.vmlp_mm.depthwise_conv2d.default,
                          (x.requires_grad_(), weight.requires_grad_()))
    x, coefficients = positional_args(2, 8, 3, 4, dtype, 'cpu')
    torch.library.opcheck(torch.ops.vmlp_mm.positional_mix.default, (x, coefficients, 3, 4))


@pytest.mark.skipif(not has_ext(), reason='vmlp_mm._ext is not built')
def test_compile_under_autocast_sees_one_op():
    args, shifts, ks = shift_args(1, 10, 6, 6, [1, 3, 3, 5, 7], torch.float32, 'cpu')
    fn = torch.compile(lambda *a: shift_mix(*a, shifts, ks), fullgraph=True, backend='aot_eager')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = fn(*args)
        expected = shift_mix(*args, shifts, ks)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected)
