import pytest
import torch

from vmlp_mm.official_forms import shift_mix_official
from vmlp_mm.ops import ShiftMix, shift_mix, shift_mix_reference
from vmlp_testing import DEVICES, MSMLP_SHIFTS, requires_ext
from vmlp_testing import shift_mix_args as make_args


@requires_ext
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize('shape,kernel_sizes', [
    ((2, 96, 14, 14), [1, 1, 3, 5, 7]),
    ((2, 97, 11, 7), [1, 3, 3, 5, 7]),   # odd channels and non-square odd map
    ((1, 20, 5, 13), [1, 7, 7, 7, 7]),   # kernel larger than H
    ((3, 6, 3, 2), [1, 3, 5, 7, 7]),     # fewer chunks than groups, shifts beyond the map
    ((1, 5, 1, 1), [1, 3, 5, 7, 7]),
])
def test_kernel_matches_reference(device, dtype, tol, shape, kernel_sizes):
    args, shifts, ks = make_args(*shape, kernel_sizes, dtype, device)
    out = shift_mix(*args, shifts, ks)
    ref = shift_mix_reference(*args, shifts, ks)
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
    grad = torch.randn_like(out)
    grads = torch.autograd.grad(out, args, grad)
    ref_grads = torch.autograd.grad(ref, args, grad)
    for name, g, r in zip(['x', 'weight_lr', 'bias_lr', 'weight_td', 'bias_td'], grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=tol, atol=tol * max(1., r.abs().max().item()),
                                   msg=lambda m: f'grad {name}: {m}')


@requires_ext
@pytest.mark.parametrize('shifts', [[-2, -1, 0, 1, 2], [3, -4, 9]])
def test_gradcheck(shifts):
    args, shifts, ks = make_args(2, 7, 5, 6, [1, 3, 5, 7, 3][:len(shifts)], torch.float64, 'cpu',
                                 shifts=shifts)
    assert torch.autograd.gradcheck(lambda *a: shift_mix(*a, shifts, ks), args)


@requires_ext
def test_opcheck():
    args, shifts, ks = make_args(2, 11, 6, 5, [1, 3, 3, 5, 7], torch.float32, 'cpu')
    torch.library.opcheck(torch.ops.vmlp_mm.shift_mix.default, (*args, shifts, ks))


def test_module_matches_official_sequence():
    torch.manual_seed(0)
    mixer = ShiftMix(96, MSMLP_SHIFTS, [1, 3, 3, 5, 7]).double()
    x = torch.randn(2, 96, 9, 12, dtype=torch.float64)
    expected = shift_mix_official(x, MSMLP_SHIFTS, mixer.dwconv_lr, mixer.dwconv_td)
    torch.testing.assert_close(mixer(x), expected, rtol=1e-12, atol=1e-12)
    assert [c.weight.shape[0] for c in mixer.dwconv_lr] == [20, 20, 20, 20, 16]


@requires_ext
def test_compile_fullgraph_over_a_block():
    from vmlp_mm.backbones.msmlp import MixShiftBlock
    torch.manual_seed(0)
    block = MixShiftBlock(20, MSMLP_SHIFTS, [1, 3, 3, 5, 7]).eval()
    x = torch.randn(2, 20, 8, 9)
    compiled = torch.compile(block, fullgraph=True, backend='aot_eager')
    torch.testing.assert_close(compiled(x), block(x))


def test_reference_used_with_one_warning_without_ext(monkeypatch):
    import importlib
    module = importlib.import_module('vmlp_mm.ops.shift_mix')
    ext_loader = importlib.import_module('vmlp_mm.ops.ext_loader')
    monkeypatch.setattr(module.SHIFT_MIX, 'available', False)
    ext_loader.warn_reference_used.cache_clear()
    args, shifts, ks = make_args(1, 10, 4, 4, [1, 3, 3, 5, 7], torch.float64, 'cpu')
    with pytest.warns(UserWarning, match='reference'):
        out = module.shift_mix(*args, shifts, ks)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        module.shift_mix(*args, shifts, ks)
    torch.testing.assert_close(out, shift_mix_reference(*args, shifts, ks))


@requires_ext
@pytest.mark.parametrize('kernel_sizes,message', [([1, 2, 3, 5, 7], 'odd'),
                                                  ([1, 3, 3, 5], 'kernel sizes')])
def test_bad_arguments(kernel_sizes, message):
    args, shifts, _ = make_args(1, 10, 4, 4, [1, 3, 3, 5, 7], torch.float32, 'cpu')
    with pytest.raises(RuntimeError, match=message):
        torch.ops.vmlp_mm.shift_mix(*args, shifts, kernel_sizes)


def test_module_rejects_mismatched_lists():
    with pytest.raises(ValueError, match='one kernel size per shift'):
        ShiftMix(10, [0, 1], [1])
