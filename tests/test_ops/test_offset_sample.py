import pytest
import torch

from vmlp_mm.ops import has_ext, offset_sample, offset_sample_reference

requires_ext = pytest.mark.skipif(not has_ext(), reason='vmlp_mm._ext is not built')
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def make_args(B, H, W, C, S, dtype, device, scale=3., seed=0, special=True):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, H, W, C, generator=gen, dtype=dtype)
    offset = torch.randn(B, H, W, C // S, generator=gen, dtype=dtype) * scale
    if special:  # integer and half-integer offsets, and far outside the map
        flat = offset.view(-1)
        k = flat.numel() // 5
        flat[:k] = torch.randint(-3, 4, (k, ), generator=gen).to(dtype)
        flat[k:2 * k] = torch.randint(-6, 6, (k, ), generator=gen).to(dtype) + 0.5
        flat[2 * k:2 * k + 2] = torch.tensor([1e4, -1e4], dtype=dtype)
    return x.to(device).requires_grad_(), offset.to(device).requires_grad_()


def deform_conv2d_route(x, offset, axis, weight, bias):
    """The official ATMOp: deform_conv2d with a 1x1 kernel and half of a 2-D offset zero."""
    from torchvision.ops import deform_conv2d
    B, H, W, C = x.shape
    full = offset.repeat_interleave(C // offset.shape[-1], dim=-1).permute(0, 3, 1, 2)
    offset_2d = torch.zeros(B, 2 * C, H, W, dtype=x.dtype)
    if axis == 2:
        offset_2d[:, 1::2] += full  # torchvision's dx slots
    else:
        offset_2d[:, 0::2] += full  # dy slots
    out = deform_conv2d(x.permute(0, 3, 1, 2), offset_2d, weight, bias)
    return out.permute(0, 2, 3, 1)


@requires_ext
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize('axis', [1, 2])
@pytest.mark.parametrize('shape', [(2, 7, 9, 8, 2), (1, 5, 3, 12, 4), (2, 1, 13, 16, 8),
                                   (1, 11, 1, 6, 6), (3, 4, 6, 5, 1)])
def test_kernel_matches_reference(device, dtype, tol, axis, shape):
    x, offset = make_args(*shape, dtype, device)
    out = offset_sample(x, offset, axis)
    ref = offset_sample_reference(x, offset, axis)
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
    grad = torch.randn_like(out)
    gx, goff = torch.autograd.grad(out, (x, offset), grad)
    rx, roff = torch.autograd.grad(ref, (x, offset), grad)
    torch.testing.assert_close(gx, rx, rtol=tol, atol=tol)
    torch.testing.assert_close(goff, roff, rtol=tol, atol=tol)


@requires_ext
@pytest.mark.parametrize('axis', [1, 2])
def test_gradcheck(axis):
    # non-integer offsets only: the interpolation is not differentiable at integer positions
    x, offset = make_args(2, 4, 5, 6, 3, torch.float64, 'cpu', special=False)
    with torch.no_grad():
        offset.copy_(offset.round() + 0.3)
    assert torch.autograd.gradcheck(lambda a, b: offset_sample(a, b, axis), (x, offset))


@requires_ext
def test_opcheck():
    x, offset = make_args(2, 5, 6, 8, 2, torch.float32, 'cpu', special=False)
    for axis in (1, 2):
        torch.library.opcheck(torch.ops.vmlp_mm.offset_sample.default, (x, offset, axis))


@requires_ext
def test_compile_fullgraph():
    x, offset = make_args(1, 5, 6, 8, 4, torch.float32, 'cpu')
    fn = torch.compile(lambda a, b: offset_sample(a, b, 2) * 2, fullgraph=True,
                       backend='aot_eager')
    torch.testing.assert_close(fn(x, offset), offset_sample(x, offset, 2) * 2)


@pytest.mark.parametrize('axis', [1, 2])
def test_reference_equals_deform_conv2d(axis):
    pytest.importorskip('torchvision.ops')
    torch.manual_seed(0)
    x, offset = make_args(2, 6, 7, 8, 2, torch.float64, 'cpu')
    weight = torch.randn(8, 8, 1, 1, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(8, dtype=torch.float64, requires_grad=True)
    expected = deform_conv2d_route(x, offset, axis, weight, bias)
    got = torch.nn.functional.linear(offset_sample_reference(x, offset, axis), weight[:, :, 0, 0],
                                     bias)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(got)
    for a, b in zip(torch.autograd.grad(got, (x, offset, weight, bias), grad),
                    torch.autograd.grad(expected, (x, offset, weight, bias), grad)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@requires_ext
@pytest.mark.parametrize('offset_shape,message', [((1, 4, 5, 3), 'cannot share'),
                                                  ((1, 4, 4, 4), 'offset must be')])
def test_bad_arguments(offset_shape, message):
    x = torch.randn(1, 4, 5, 8)
    with pytest.raises(RuntimeError, match=message):
        torch.ops.vmlp_mm.offset_sample(x, torch.zeros(offset_shape), 2)
    with pytest.raises(RuntimeError, match='axis'):
        torch.ops.vmlp_mm.offset_sample(x, torch.zeros(1, 4, 5, 4), 3)
