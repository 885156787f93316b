import pytest
import torch

from vmlp_mm.official_forms import atm_deform_conv2d
from vmlp_mm.ops import offset_sample, offset_sample_reference
from vmlp_testing import DEVICES, requires_ext
from vmlp_testing import offset_sample_args as make_args


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
    expected = atm_deform_conv2d(x, offset, axis, weight, bias)
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


@requires_ext
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('value', ['nan', 'inf', '-inf'])
def test_non_finite_offsets_sample_nowhere_in_kernel_and_reference(device, value):
    # the documented contract: zero output and zero gradients there, the same in both
    x, offset = make_args(1, 3, 5, 4, 2, torch.float32, device, special=False)
    with torch.no_grad():
        offset[0, 1, 2, 0] = float(value)
    for op in (offset_sample, offset_sample_reference):
        out = op(x, offset, 2)
        gx, goff = torch.autograd.grad(out.sum(), (x, offset))
        assert out[0, 1, 2, :2].abs().sum() == 0 and goff[0, 1, 2, 0] == 0
        assert torch.isfinite(out).all() and torch.isfinite(gx).all()
        assert torch.isfinite(goff).all()
    torch.testing.assert_close(offset_sample(x, offset, 2), offset_sample_reference(x, offset, 2))
