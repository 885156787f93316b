from vmlp_mm.backbones import MSMLP


def test_features_are_taken_before_downsampling():
    model = MSMLP('nano', out_indices=(0, 1), gap_before_final_norm=False)
    assert model.stages[0].downsample is None
    assert model.stages[1].downsample.proj.stride == (2, 2)


def test_drop_path_schedule():
    model = MSMLP('tiny', drop_path_rate=0.1)
    rates = [r for stage in model.drop_path_rates for r in stage]
    assert len(rates) == 18 and rates[0] == 0. and abs(rates[-1] - 0.1) < 1e-6


def test_get_layer_depth():
    model = MSMLP('tiny')
    assert model.get_layer_depth('backbone.patch_embed.proj.weight', 'backbone.') == (0, 20)
    assert model.get_layer_depth('backbone.stages.0.blocks.0.gamma', 'backbone.') == (1, 20)
    assert model.get_layer_depth('backbone.stages.1.downsample.proj.weight', 'backbone.') == (4, 20)
    assert model.get_layer_depth('backbone.stages.3.blocks.2.gamma', 'backbone.') == (18, 20)
    assert model.get_layer_depth('backbone.norm3.weight', 'backbone.') == (19, 20)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (19, 20)

