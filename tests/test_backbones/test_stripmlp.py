import pytest
import torch

from vmlp_mm.backbones import StripMLP
from vmlp_mm.backbones.stripmlp import StripFC, StripMixing
from vmlp_mm.official_forms import strip_fc_official


@pytest.mark.parametrize('along', ['w', 'h'])
def test_strip_fc_equals_the_official_grouped_conv(along):
    """The batched-GEMM strip FC against the official formulation: a (1, 3) conv with
    ``groups=G`` over ``G * S`` token channels of permuted views."""
    torch.manual_seed(0)
    fc = StripFC(5, 4, along)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(fc(x), strip_fc_official(fc, x))


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
