import pytest
import torch
import torch.nn as nn

from vmlp_mm.ops import DepthwiseConv2d, depthwise_conv2d, depthwise_conv2d_reference, has_ext
from vmlp_testing import DEVICES, requires_ext


def make_args(B, C, H, W, kernel, dtype, device, seed=0, channels_last=True):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, H, W, generator=gen, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(C, 1, *kernel, generator=gen, dtype=dtype)
    return x.to(device).requires_grad_(), weight.to(device).requires_grad_()


@requires_ext
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize('shape,kernel', [
    ((2, 80, 14, 14), (7, 7)),
    ((2, 37, 11, 6), (3, 7)),    # odd channels, non-square map
    ((1, 20, 5, 13), (7, 3)),
    ((3, 6, 2, 3), (7, 7)),      # kernel larger than the map
    ((1, 5, 1, 1), (3, 3)),
    ((2, 3, 4, 5), (1, 1)),
])
@pytest.mark.parametrize('channels_last', [True, False])
def test_kernel_matches_reference(device, dtype, tol, shape, kernel, channels_last):
    args = make_args(*shape, kernel, dtype, device, channels_last=channels_last)
    out = depthwise_conv2d(*args)
    ref = depthwise_conv2d_reference(*args)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
    grad = torch.randn_like(out)
    for name, g, r in zip(['x', 'weight'], torch.autograd.grad(out, args, grad),
                          torch.autograd.grad(ref, args, grad)):
        torch.testing.assert_close(g, r, rtol=tol, atol=tol * max(1., r.abs().max().item()),
                                   msg=lambda m: f'grad {name}: {m}')


@requires_ext
@pytest.mark.parametrize('kernel', [(3, 3), (3, 7), (7, 3)])
def test_gradcheck(kernel):
    args = make_args(2, 5, 6, 7, kernel, torch.float64, 'cpu')
    assert torch.autograd.gradcheck(depthwise_conv2d, args)


@requires_ext
def test_opcheck():
    args = make_args(2, 11, 6, 5, (3, 7), torch.float32, 'cpu')
    torch.library.opcheck(torch.ops.vmlp_mm.depthwise_conv2d.default, args)


@pytest.mark.parametrize('kernel', [(2, 3), (3, 4)])
def test_even_kernel_is_refused(kernel):
    x, weight = make_args(1, 4, 5, 5, kernel, torch.float32, 'cpu')
    with pytest.raises((ValueError, RuntimeError), match='odd sides'):
        depthwise_conv2d(x, weight)


@requires_ext
def test_mismatched_weight_is_refused():
    x, _ = make_args(1, 4, 5, 5, (3, 3), torch.float32, 'cpu')
    with pytest.raises(RuntimeError, match=r'\[C, 1, kh, kw\]'):
        depthwise_conv2d(x, torch.randn(5, 1, 3, 3))


def test_module_is_the_depthwise_conv2d_it_replaces():
    torch.manual_seed(0)
    module = DepthwiseConv2d(12, (3, 7)).double()
    conv = nn.Conv2d(12, 12, (3, 7), padding=(1, 3), groups=12, bias=False).double()
    conv.load_state_dict(module.state_dict())
    assert list(module.state_dict()) == ['weight']
    x = torch.randn(2, 12, 9, 10, dtype=torch.float64)
    torch.testing.assert_close(module(x), conv(x), rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not has_ext(), reason='vmlp_mm._ext is not built')
def test_compile_fullgraph():
    module = DepthwiseConv2d(8, 7)
    x = torch.randn(2, 8, 9, 9)
    compiled = torch.compile(module, fullgraph=True, backend='aot_eager')
    torch.testing.assert_close(compiled(x), module(x))
