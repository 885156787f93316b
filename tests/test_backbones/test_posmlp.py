import pytest
import torch

from vmlp_mm.backbones import PosMLP
from vmlp_mm.backbones.posmlp import QuadraticPositionalMixing, relative_offsets

# parameters() with the official 1000-class head (../shared/reference/ARCH_msmlp_posmlp_stripmlp.md)
OFFICIAL_PARAMS = {'tiny': 20_925_538, 'small': 36_816_450}  # measured on the official code


@pytest.mark.parametrize('arch', list(OFFICIAL_PARAMS))
def test_param_count_equals_official(arch):
    model = PosMLP(arch)
    head = model.channels[-1] * 1000 + 1000
    assert sum(p.numel() for p in model.parameters()) + head == OFFICIAL_PARAMS[arch]


def test_offsets_use_the_official_signs():
    offsets = relative_offsets(3)  # token t = row * 3 + col
    # target (0, 0) = token 0, source (1, 2) = token 5: dx = col(n) - col(m), dy = row(m) - row(n)
    assert offsets[0, 5].tolist() == [2., -1., 4., 1., -2.]


def mixing_reference(mixer, u, gate, real):
    """Per window and channel: the softmax over real sources only, then bias and gate."""
    b, w, n, c = u.shape
    inv_cov = mixer.spreads @ mixer.spreads.transpose(1, 2)
    out = torch.empty_like(u)
    for group in range(mixer.groups):
        diff = mixer.offsets[..., :2] - mixer.centers[group]  # v - mu over (dx, dy)
        score = -0.5 * torch.einsum('mni,ij,mnj->mn', diff, inv_cov[group], diff)
        for window in range(w):
            masked = score.masked_fill(real[window][None, :] == 0, float('-inf'))
            weights = masked.softmax(-1)
            channels = list(range(group, c, mixer.groups))  # interleaved groups
            out[:, window, :, channels] = torch.einsum('mn,bnc->bmc', weights,
                                                       u[:, window][..., channels])
    return (out + mixer.token_bias.view(1, 1, n, 1)) * gate


def test_padded_tokens_are_masked_out():
    """The padded windows' softmax equals one restricted to the real source tokens (the
    constant of the expanded quadratic form cancels in the softmax)."""
    torch.manual_seed(0)
    mixer = QuadraticPositionalMixing(window_size=4, groups=2)
    with torch.no_grad():
        mixer.centers.normal_(0, 1)
        mixer.spreads.copy_(torch.eye(2) * 0.7 + torch.randn(2, 2, 2) * 0.2)
        mixer.token_bias.normal_()
    u, gate = torch.randn(2, 3, 16, 6), torch.randn(2, 3, 16, 6)
    real = torch.ones(3, 16)
    real[1, 12:] = 0  # last row padded
    real[2, 3::4] = 0  # last column padded
    torch.testing.assert_close(mixer(u, gate, real), mixing_reference(mixer, u, gate, real),
                               rtol=1e-5, atol=1e-5)


def test_windows_are_independent():
    """A stage mixes tokens only inside their window: a padded map's full windows give the same
    outputs as the map cropped to them (nothing padded)."""
    torch.manual_seed(0)
    model = PosMLP('nano', out_indices=(0, 1, 2, 3)).eval()
    stage = model.stages[0]  # windows of 8
    x = torch.randn(1, 32, 13, 19)
    with torch.no_grad():
        full = stage(x)
        cropped = stage(x[:, :, :8, :16])  # whole windows: no padding at all
    torch.testing.assert_close(full[:, :, :8, :16], cropped, rtol=1e-5, atol=1e-5)


def test_stage_outputs_any_size():
    model = PosMLP('nano', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 333, 517))
    assert [tuple(o.shape[1:]) for o in outs] == [(32, 84, 130), (64, 42, 65), (128, 21, 33),
                                                   (256, 11, 17)]


def test_groups_must_divide_the_gated_channels():
    with pytest.raises(ValueError, match='cannot form 5 positional groups'):
        PosMLP(dict(PosMLP.arch_zoo['nano'], groups=[5, 8, 16, 32]))
