import pytest
import torch

from vmlp_mm.backbones import StripMLP
from vmlp_mm.backbones.stripmlp import GRN, StripFC, StripMixing, grn_reference
from vmlp_mm.official_forms import strip_fc_official


@pytest.mark.parametrize('along', ['w', 'h'])
@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
def test_strip_fc_equals_the_official_grouped_conv(along, memory_format):
    """The batched-GEMM strip FC against the official formulation: a (1, 3) conv with
    ``groups=G`` over ``G * S`` token channels of permuted views, in both memory formats (the
    output keeps the input's), both ways (training; without gradients), gradients included."""
    torch.manual_seed(0)
    fc = StripFC(5, 4, along).double()
    torch.nn.init.normal_(fc.bias)
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    x = x.contiguous(memory_format=memory_format).requires_grad_()
    out, expected = fc(x), strip_fc_official(fc, x)
    with torch.no_grad():
        inference = fc(x)
    for result in (out, inference):
        assert result.is_contiguous(memory_format=memory_format)
        torch.testing.assert_close(result, expected, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(out)
    params = (x, fc.weight, fc.bias)
    for ours, official in zip(torch.autograd.grad(out, params, grad),
                              torch.autograd.grad(expected, params, grad)):
        torch.testing.assert_close(ours, official, rtol=1e-12, atol=1e-12)


def test_grn_is_the_papers_expression():
    """GRN's fused forward (inference) and hand-written backward (training) against the paper's
    expression and its autograd, with
    a channel that is zero everywhere (no gradient through its norm); gradcheck in float64."""
    torch.manual_seed(0)
    x = torch.randn(2, 5, 7, 6, dtype=torch.float64)
    x[0, :, :, 2] = 0
    x.requires_grad_()
    grn = GRN(6).double()
    torch.nn.init.normal_(grn.gamma)
    torch.nn.init.normal_(grn.beta)
    params = (x, grn.gamma, grn.beta)
    out, expected = grn(x), grn_reference(x, grn.gamma, grn.beta)
    with torch.no_grad():
        inference = grn(x)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(inference, expected, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(out)
    for ours, reference in zip(torch.autograd.grad(out, params, grad),
                               torch.autograd.grad(expected, params, grad)):
        torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(grn, (x,))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_grn_in_half_precision(dtype):
    """Cast and under autocast: finite, close to float32, gradients in the parameters' dtype;
    the norms accumulate in float32 (a 56x56 map of values near 8 overflows float16's sum of
    squares)."""
    torch.manual_seed(0)
    grn = GRN(8)
    torch.nn.init.normal_(grn.gamma)
    x = 8 + torch.randn(2, 56, 56, 8)
    expected = grn_reference(x, grn.gamma, grn.beta)
    half = GRN(8).to(dtype)
    half.load_state_dict(grn.state_dict())
    xh = x.to(dtype).requires_grad_()
    out = half(xh)
    assert out.dtype == dtype and torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), expected, rtol=5e-2, atol=5e-2)
    out.float().sum().backward()
    assert xh.grad.dtype == half.gamma.grad.dtype == dtype
    assert torch.isfinite(xh.grad).all() and torch.isfinite(half.gamma.grad).all()
    with torch.autocast('cpu', dtype=dtype):
        out = grn(x.to(dtype).requires_grad_())
    out.float().sum().backward()
    assert grn.gamma.grad.dtype == torch.float32 and torch.isfinite(grn.gamma.grad).all()


@pytest.mark.parametrize('training', [True, False])
def test_grn_keeps_a_small_gamma_under_autocast(training):
    """A bfloat16 map with float32 parameters gives a float32 result, as the paper's expression
    does: ``x * (1 + gamma * Nx)`` rounded to bfloat16 would lose a gamma of 1e-3 entirely."""
    torch.manual_seed(0)
    grn = GRN(8)
    with torch.no_grad():
        grn.gamma.fill_(1e-3)
    x = torch.randn(2, 6, 6, 8).bfloat16()
    expected = grn_reference(x.float(), grn.gamma, grn.beta) - x.float()
    with torch.autocast('cpu', dtype=torch.bfloat16), torch.set_grad_enabled(training):
        out = grn(x.requires_grad_(training))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out - x.float(), expected, rtol=1e-2, atol=1e-6)


def test_windows_keep_real_pixels_apart_from_padding():
    """Strip FCs on windows of the pretraining size: the content of one window never reaches
    another, and padding (zeroed after the position embedding) adds nothing, so the pixels of
    a full window equal a run on that window alone (the LSMM branch and the norms are
    per-pixel or global: switched to eval, with the LSMM part dropped from the comparison)."""
    torch.manual_seed(0)
    mixer = StripMixing(16, strip_size=4, strip_groups=2).eval()
    x = torch.randn(1, 8, 10, 7)  # the CGSMM half: 3 x 2 windows of 4, padded
    with torch.no_grad():
        full = mixer.channel_group_strips(x)
        window = mixer.channel_group_strips(x[:, :, 4:8, :4])
    torch.testing.assert_close(full[:, :, 4:8, :4], window, rtol=1e-5, atol=1e-5)


def test_cross_stage_skips_and_any_size():
    model = StripMLP('nano', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 333, 517))
    assert [tuple(o.shape[1:]) for o in outs] == [(32, 84, 130), (64, 42, 65), (128, 21, 33),
                                                   (256, 11, 17)]


def test_constant_drop_path_and_errors():
    model = StripMLP('nano', drop_path_rate=0.1)
    assert all(block.drop_path.drop_prob == 0.1 for stage in model.stages
               for block in stage.blocks)
    with pytest.raises(ValueError, match='GlobalAveragePooling neck'):
        StripMLP('nano', gap_before_final_norm=True)
    with pytest.raises(ValueError, match='cannot form 3 groups'):
        StripMLP(dict(StripMLP.arch_zoo['nano'], strip_groups=[3, 8, 16, 32]))
