import pytest
import torch

from vmlp_mm.backbones import PosMLP
from vmlp_mm.backbones.posmlp import QuadraticPositionalMixing, WindowGrid, group_major
from vmlp_mm.ops.positional_mix import relative_offsets


def test_offsets_use_the_official_signs():
    offsets = relative_offsets(3, 3).permute(1, 2, 0)  # token t = row * 3 + col
    # target (0, 0) = token 0, source (1, 2) = token 5: dx = col(n) - col(m), dy = row(m) - row(n)
    assert offsets[0, 5].tolist() == [2., -1., 4., 1., -2.]


def mixing_reference(mixer, u, gate, window):
    """Per target pixel: the softmax over the pixels of its window (cut from the top-left, the
    last ones ragged) of the Gaussian of their offsets, then the bias of its place in the
    window (the learned bias resized to ``window``), then the gate. ``u``, ``gate``: maps."""
    _, c, h, w = u.shape
    wh, ww = window
    inv_cov = mixer.spreads @ mixer.spreads.transpose(1, 2)
    bias = mixer.window_bias(window)
    out = torch.empty_like(u)
    for y in range(h):
        for x in range(w):
            y0, x0 = y // wh * wh, x // ww * ww
            ys, xs = torch.meshgrid(torch.arange(y0, min(y0 + wh, h)),
                                    torch.arange(x0, min(x0 + ww, w)), indexing='ij')
            # official signs: dx = col(source) - col(target), dy = row(target) - row(source)
            v = torch.stack([xs - x, y - ys], -1).reshape(-1, 2).to(u.dtype)
            sources = u[:, :, ys.reshape(-1), xs.reshape(-1)]  # [B, C, n]
            for group in range(mixer.groups):
                diff = v - mixer.centers[group]
                weights = (-0.5 * torch.einsum('ni,ij,nj->n', diff, inv_cov[group],
                                               diff)).softmax(0)
                channels = list(range(group, c, mixer.groups))  # interleaved groups
                out[:, channels, y, x] = sources[:, channels] @ weights
            out[:, :, y, x] += bias[y - y0, x - x0]
    return out * gate


@pytest.mark.parametrize('size, window', [((9, 11), (4, 4)), ((6, 5), (6, 5)),
                                          ((7, 10), (3, 4)), ((2, 3), (4, 4))])
def test_mixing_matches_the_per_pixel_definition(size, window):
    """Full, ragged (bottom, right, corner) and resized windows: one softmax per target pixel
    over the real pixels of its window. A ragged window is what the padded-and-masked window
    of the official model restricted to real tokens computes."""
    torch.manual_seed(0)
    mixer = QuadraticPositionalMixing(window_size=4, groups=2).double()
    with torch.no_grad():
        mixer.centers.normal_(0, 1)
        mixer.spreads.copy_(torch.eye(2) * 0.7 + torch.randn(2, 2, 2) * 0.2)
        mixer.token_bias.normal_()
    u, gate = torch.randn(2, 6, *size).double(), torch.randn(2, 6, *size).double()
    grid = WindowGrid(*size, window)

    def block_features(x):  # the blocks' channel-first, group-major [C, B, T] features
        return group_major(grid.tile(x).permute(2, 0, 1), mixer.groups)

    mixed = mixer(block_features(u), block_features(gate), grid)
    interleaved = mixed.unflatten(0, (mixer.groups, -1)).transpose(0, 1).flatten(0, 1)
    mixed = grid.untile(interleaved.permute(1, 2, 0))
    torch.testing.assert_close(mixed, mixing_reference(mixer, u, gate, window))


def test_grid_tile_untile_roundtrip():
    x = torch.randn(2, 3, 13, 19)
    for window in [(4, 4), (13, 19), (5, 7), (20, 20)]:
        grid = WindowGrid(13, 19, window)
        assert torch.equal(grid.untile(grid.tile(x)), x)


def test_sharp_maps_far_from_the_real_tokens_stay_finite():
    """The 512 x 512 NaN: a map 2 tokens past whole 14-windows once left padded targets whose
    masked softmax underflowed to 0 / 0, and the NaN spread through the next block's masking
    (NaN * 0). Ragged windows have no padded rows; very sharp maps stay finite too."""
    torch.manual_seed(0)
    model = PosMLP('T', out_indices=(0, ), dense_policy='windowed')
    with torch.no_grad():
        for stage in model.stages:
            for block in stage.blocks:
                block.token_mixer.spreads.mul_(4)
                block.token_mixer.centers.normal_(0, 5)
    x = torch.randn(1, 3, 232, 64, requires_grad=True)
    out = model(x)[0]
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()


def test_global_policy_keeps_the_pretraining_structure():
    model = PosMLP('T')
    assert [s.global_mixing for s in model.stages] == [False, False, True, True]
    # 224: the trained windows, whole map in stages 3 and 4
    assert [s.grid(56 // 2**i, 56 // 2**i).window for i, s in enumerate(model.stages)] == [
        (14, 14), (14, 14), (14, 14), (7, 7)]
    # 512: stages 3/4 cover their 32 x 32 and 16 x 16 maps; 800 x 1216 exceeds the 1024-token
    # budget at stage 3 (50 x 76): 4 windows of 25 x 38
    assert model.stages[2].grid(32, 32).window == (32, 32)
    assert model.stages[3].grid(16, 16).window == (16, 16)
    assert model.stages[2].grid(50, 76).window == (25, 38)
    assert model.stages[3].grid(25, 38).window == (25, 38)
    assert model.stages[0].grid(128, 128).window == (14, 14)
    windowed = PosMLP('T', dense_policy='windowed')
    assert windowed.stages[2].grid(32, 32).window == (14, 14)
    # the nano demo arch at its pretraining size (64, the digits): the same structure
    nano = PosMLP('nano')
    assert [s.global_mixing for s in nano.stages] == [False, False, True, True]
    assert [s.grid(16 // 2**i, 16 // 2**i).window for i, s in enumerate(nano.stages)] == [
        (8, 8), (4, 4), (4, 4), (2, 2)]
    assert nano.stages[2].grid(8, 8).window == (8, 8)  # the 128 x 128 segmentation demo


def test_token_bias_is_resized_for_larger_windows():
    mixer = QuadraticPositionalMixing(window_size=2, groups=1)
    with torch.no_grad():
        mixer.token_bias.copy_(torch.tensor([0., 1., 2., 3.]))
    assert torch.equal(mixer.window_bias((2, 2)), torch.tensor([[0., 1.], [2., 3.]]))
    torch.testing.assert_close(mixer.window_bias((4, 4))[[0, -1], [0, -1]],
                               torch.tensor([0., 3.]))


def test_global_policy_reaches_across_the_map():
    """A change in the top-left corner reaches the bottom-right corner of stage 3's output only
    through its global window (the windowed policy keeps them apart)."""
    torch.manual_seed(0)
    for policy, reaches in (('global', True), ('windowed', False)):
        model = PosMLP('nano', out_indices=(2, ), dense_policy=policy).eval()
        stage = model.stages[2]
        for block in stage.blocks:  # wide Gaussians (at init they hardly reach 3 tokens)
            block.token_mixer.spreads.data.mul_(0.1)
        x = torch.randn(1, 64, 32, 32)
        y = x.clone()
        y[:, :, :2, :2] += 1
        with torch.no_grad():
            changed = (stage(x) - stage(y))[:, :, -4:, -4:].abs().max()
        assert (changed > 1e-6) == reaches, policy


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
