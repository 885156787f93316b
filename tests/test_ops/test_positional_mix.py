import pytest
import torch

from vmlp_mm.backbones.posmlp import QuadraticPositionalMixing, window_grid
from vmlp_mm.ops import has_ext, positional_mix, positional_mix_reference, reference_ops
from vmlp_testing import DEVICES, requires_ext
from vmlp_testing import positional_mix_args as make_args

SHAPES = [(3, 8, 3, 4), (4, 2, 1, 7), (2, 9, 5, 1), (4, 1, 1, 1), (8, 8, 7, 7),
          (32, 2, 14, 14)]  # G, R, rows, cols


def kernel_or_reference(path):
    if path == 'reference':
        return positional_mix_reference
    if not has_ext():
        pytest.skip('vmlp_mm._ext is not built')
    return torch.ops.vmlp_mm.positional_mix


def float64_reference(x, coefficients, rows, cols):
    return positional_mix_reference(x.double(), coefficients.double(), rows, cols)


def assert_same_result(x, coefficients, rows, cols, tol):
    """The op against the reference in float64 (in float32 the op accumulates the coefficients'
    gradient more accurately than the reference: 1e-6 against 1e-5 of the float64 result)."""
    out = positional_mix(x, coefficients, rows, cols)
    expected = float64_reference(x, coefficients, rows, cols)
    torch.testing.assert_close(out, expected.to(out.dtype), rtol=tol, atol=tol)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(0)).to(out)
    for got, want in zip(torch.autograd.grad(out, (x, coefficients), grad),
                         torch.autograd.grad(expected, (x, coefficients), grad.double())):
        # sums over B * N^2 terms: the tolerance scales with the gradient's size
        torch.testing.assert_close(got, want.to(got.dtype), rtol=tol,
                                   atol=tol * max(1., want.abs().max().item()))


@requires_ext
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize('shape', SHAPES)
def test_kernel_matches_reference(device, dtype, tol, shape):
    G, R, rows, cols = shape
    x, coefficients = make_args(G, R, rows, cols, dtype, device)
    assert_same_result(x, coefficients, rows, cols, tol)


@requires_ext
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('shape', [(6, 1, 32, 32), (2, 1, 46, 46)],
                         ids=['groups cut into tiles', 'targets cut into tiles'])
def test_tile_boundaries(device, shape):
    # 4 Mi weights a tile: 4 of 6 groups of a 1024-token window, then 2; a 2116-token group's
    # targets in two slices
    G, R, rows, cols = shape
    x, coefficients = make_args(G, R, rows, cols, torch.float64, device, spread=0.02)
    assert_same_result(x, coefficients, rows, cols, 1e-10)


@requires_ext
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 5e-5)])
def test_targets_far_below_the_groups_peak(device, dtype, tol):
    # a narrow Gaussian centred 19 tokens right and down: the score peaks at 1444 where only
    # the top-left targets reach, the far targets' best scores lie >700 below it (the CPU
    # kernel's direct path); their weights must still be their own softmax. (In float32 the
    # coefficients' gradient, sums of terms weighted by offsets up to 19^2, comes within ~1.3e-5
    # of the float64 one over random output gradients.)
    x, coefficients = make_args(2, 4, 20, 20, dtype, device)
    with torch.no_grad():
        coefficients[0] = torch.tensor([76., -76., -2., -2., 0.])
    out = positional_mix(x, coefficients, 20, 20)
    assert torch.isfinite(out).all()
    assert_same_result(x, coefficients, 20, 20, tol)


@requires_ext
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_cpu_weights_below_the_root_of_the_normal_range_are_zero(dtype):
    # x one-hot on one token: out[m] is the weight P[m, n] itself. The CPU kernel stores
    # weights below the square root of the dtype's smallest normal as zero (their products
    # with small gradients would be subnormal, which costs Intel cores a microcode assist
    # each); the reference keeps them.
    x, coefficients = make_args(1, 1, 16, 16, dtype, 'cpu')
    with torch.no_grad():
        x.zero_()[0, 0, 0] = 1
        coefficients[0] = torch.tensor([0., 0., -6., -6., 0.])  # exp(-6 * 15^2) in row 15
    reference = positional_mix_reference(x, coefficients, 16, 16)
    smallest_kept = torch.finfo(dtype).tiny**0.5
    assert ((reference > 0) & (reference < smallest_kept)).any()
    out = positional_mix(x, coefficients, 16, 16)
    assert ((out == 0) | (out >= smallest_kept)).all()
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=smallest_kept)


@requires_ext
def test_coefficients_changed_in_place_between_calls():
    # the CPU kernel reuses a group's table across the target slices of one window (N = 1,100
    # does not fit one tile); new values at the same address must not reuse it
    x, coefficients = make_args(2, 3, 25, 44, torch.float64, 'cpu')
    for _ in range(2):
        assert_same_result(x, coefficients, 25, 44, 1e-10)
        with torch.no_grad():
            coefficients.mul_(0.5).add_(0.1)


@requires_ext
def test_gradcheck():
    x, coefficients = make_args(3, 4, 3, 4, torch.float64, 'cpu')
    assert torch.autograd.gradcheck(lambda a, b: positional_mix(a, b, 3, 4), (x, coefficients))


@requires_ext
def test_opcheck():
    x, coefficients = make_args(4, 4, 3, 5, torch.float32, 'cpu')
    torch.library.opcheck(torch.ops.vmlp_mm.positional_mix.default, (x, coefficients, 3, 5))


@requires_ext
def test_compile_fullgraph():
    x, coefficients = make_args(2, 8, 4, 4, torch.float32, 'cpu')
    fn = torch.compile(lambda a, b: positional_mix(a, b, 4, 4) * 2, fullgraph=True,
                       backend='aot_eager')
    torch.testing.assert_close(fn(x, coefficients), positional_mix(x, coefficients, 4, 4) * 2)


@requires_ext
def test_backward_keeps_only_the_inputs():
    # no term in G * N^2: autograd keeps x and the coefficients, the reference its [G, N, N] maps
    x, coefficients = make_args(8, 4, 16, 16, torch.float32, 'cpu')
    for op, bound in ((positional_mix, x.numel() + coefficients.numel()),
                      (positional_mix_reference, None)):
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t,
                                                      lambda t: t):
            op(x, coefficients, 16, 16)
        if bound is None:
            assert max(saved) >= 8 * 256 * 256
        else:
            assert sum(saved) <= bound


@pytest.mark.parametrize('path', ['kernel', 'reference'])
@pytest.mark.parametrize('args,error,message', [
    (((2, 4, 12), (2, 5), 3, 5), ValueError, r'x must be \[G, R, N\] with N = rows \* cols = 15'),
    (((2, 4, 12), (3, 5), 3, 4), ValueError, r"coefficients must be \[G, 5\] for x's G = 2"),
    (((2, 4, 12), (2, 4), 3, 4), ValueError, r'coefficients must be \[G, 5\]'),
    (((2, 4, 0), (2, 5), 0, 4), ValueError, r'the window must be at least 1 x 1'),
], ids=['tokens', 'groups', 'features', 'window'])
def test_bad_arguments(path, args, error, message):
    (x_shape, coefficient_shape, rows, cols) = args
    op = kernel_or_reference(path)
    with pytest.raises(error, match=message):
        op(torch.randn(x_shape), torch.randn(coefficient_shape), rows, cols)


@pytest.mark.parametrize('path', ['kernel', 'reference'])
def test_coefficients_of_another_dtype_name_the_fix(path):
    op = kernel_or_reference(path)
    x, coefficients = make_args(2, 2, 2, 2, torch.bfloat16, 'cpu')
    with pytest.raises(TypeError, match=r'(?i)coefficients are (bfloat16|torch.bfloat16).* pass '
                                        r'them as (float|torch.float32)'):
        op(x.detach(), coefficients.detach().bfloat16(), 2, 2)


@requires_ext
@pytest.mark.parametrize('height,width', [(11, 13), (8, 8), (1, 5), (9, 2), (50, 76)])
@pytest.mark.parametrize('global_mixing', [False, True])
def test_every_window_shape_of_a_grid(height, width, global_mixing):
    """The mixer over every region of a grid (full, right, bottom, corner windows), through the
    op and through the reference, in float64."""
    torch.manual_seed(0)
    grid = window_grid(height, width, 4, global_mixing, max_window_tokens=48)
    mixer = QuadraticPositionalMixing(4, groups=2).double()
    with torch.no_grad():
        mixer.token_bias.normal_()
    # the blocks' channel-first features [C, B, T]
    u = torch.randn(6, 2, height * width, dtype=torch.float64, requires_grad=True)
    gate = torch.randn(6, 2, height * width, dtype=torch.float64)
    out = mixer(u, gate, grid)
    with reference_ops():
        expected = mixer(u, gate, grid)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    params = [u, *mixer.parameters()]
    for got, want in zip(torch.autograd.grad(out.sum(), params),
                         torch.autograd.grad(expected.sum(), params)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
