import pytest
import torch

from vmlp_mm.backbones import ActiveMLP


@pytest.mark.parametrize('arch,creators', [
    ('xT', [[0], [0], [0, 2], [0]]),
    ('T', [[0], [0], [0, 2, 4, 6, 8], [0]]),
    ('B', [[0], [0, 6], [0, 6, 12, 18, 24], [0]]),
])
def test_offset_creating_blocks_as_official(arch, creators):
    model = ActiveMLP(arch)
    found = [[j for j, b in enumerate(stage.blocks) if b.offset_layer is not None]
             for stage in model.stages]
    assert found == creators


def test_official_sizes_for_odd_inputs():
    model = ActiveMLP('nano', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 800, 1216))
    assert [tuple(o.shape[2:]) for o in outs] == [(200, 304), (100, 152), (50, 76), (25, 38)]
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 1333, 800))
    assert [tuple(o.shape[2:]) for o in outs] == [(333, 200), (167, 100), (84, 50), (42, 25)]


def test_classification_setting_is_norm_then_pool():
    model = ActiveMLP('nano').eval()  # out_indices=-1, normalised map for a GAP neck
    (out, ) = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 256, 2, 2)


def test_share_dims_must_divide_channels():
    arch = dict(ActiveMLP.arch_zoo['nano'], channels=[30, 64, 128, 256])
    with pytest.raises(ValueError, match='cannot share offsets in groups of 4'):
        ActiveMLP(dict(arch, share_dims=[4, 4, 4, 8]))
