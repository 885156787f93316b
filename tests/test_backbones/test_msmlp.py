import pytest
import torch

from vmlp_mm.backbones import MSMLP

OFFICIAL_PARAMS = {'tiny': 28_656_232, 'small': 50_303_752, 'base': 88_696_792}


@pytest.mark.parametrize('arch', list(OFFICIAL_PARAMS))
def test_param_count_equals_official(arch):
    model = MSMLP(arch)
    head = model.channels[-1] * 1000 + 1000  # the official 1000-class Linear head
    assert sum(p.numel() for p in model.parameters()) + head == OFFICIAL_PARAMS[arch]


def test_official_yaml_settings_not_class_defaults():
    tiny = MSMLP.arch_zoo['tiny']
    assert tiny['depths'] == [3, 3, 9, 3]
    assert tiny['kernel_sizes'] == [[1, 1, 3, 5, 7], [1, 3, 3, 5, 7], [1, 5, 5, 5, 7],
                                    [1, 7, 7, 7, 7]]
    assert MSMLP.arch_zoo['base']['channels'] == [128, 256, 512, 1024]


@pytest.mark.parametrize('size', [(224, 224), (512, 512), (800, 1216), (333, 517)])
def test_dense_outputs_any_size(size):
    model = MSMLP('nano', out_indices=(0, 1, 2, 3), gap_before_final_norm=False).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    h, w = size
    for i, (out, c) in enumerate(zip(outs, [32, 64, 128, 256])):
        stride = 4 * 2**i
        assert out.shape == (1, c, -(-h // stride), -(-w // stride))


def test_classification_output_is_pooled_then_normed():
    model = MSMLP('nano').eval()
    x = torch.randn(2, 3, 64, 64)
    (out, ) = model(x)
    assert out.shape == (2, 256)
    dense = MSMLP('nano', out_indices=3, gap_before_final_norm=False).eval()
    dense.load_state_dict(model.state_dict())
    feat = x
    with torch.no_grad():
        feat = model.patch_embed(feat)
        for stage in model.stages:
            feat = stage(feat)
        expected = torch.nn.functional.layer_norm(feat.mean((2, 3)), (256, ), model.norm3.weight,
                                                  model.norm3.bias, 1e-6)
        torch.testing.assert_close(out, expected)
        # the same weights in the dense setting normalise the full map
        assert dense(x)[0].shape == (2, 256, 2, 2)


def test_features_are_taken_before_downsampling():
    model = MSMLP('nano', out_indices=(0, 1), gap_before_final_norm=False)
    assert model.stages[0].downsample is None
    assert model.stages[1].downsample.proj.stride == (2, 2)


def test_out_indices_negative_and_errors():
    assert MSMLP('nano', out_indices=(-1, 0)).out_indices == (0, 3)
    with pytest.raises(ValueError, match='out of range'):
        MSMLP('nano', out_indices=(4, ))
    with pytest.raises(ValueError, match='Unknown arch'):
        MSMLP('huge')
    with pytest.raises(ValueError, match='missing keys'):
        MSMLP({'channels': [8, 16, 32, 64], 'depths': [1, 1, 1, 1]})


def test_wrong_input_channels_is_a_clear_error():
    model = MSMLP('nano')
    with pytest.raises(ValueError, match='in_channels=4'):
        model(torch.randn(1, 4, 32, 32))
    assert MSMLP('nano', in_channels=4)(torch.randn(1, 4, 32, 32))[0].shape == (1, 256)


def test_custom_arch_dict():
    arch = dict(MSMLP.arch_zoo['nano'], channels=[20, 40, 80, 160], depths=[1, 1, 1, 1])
    assert MSMLP(arch)(torch.randn(1, 3, 32, 32))[0].shape == (1, 160)


def test_frozen_stages_and_norm_eval():
    model = MSMLP('nano', frozen_stages=2, out_indices=(0, 1, 2, 3),
                  gap_before_final_norm=False)
    model.train()
    assert not any(p.requires_grad for p in model.patch_embed.parameters())
    assert not any(p.requires_grad for p in model.stages[1].parameters())
    assert not any(p.requires_grad for p in model.norm1.parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert not model.stages[0].training and model.stages[2].training


def test_with_cp_gives_same_gradients():
    torch.manual_seed(0)
    model = MSMLP('nano', drop_path_rate=0.)
    model_cp = MSMLP('nano', with_cp=True, drop_path_rate=0.)
    model_cp.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    model(x)[0].sum().backward()
    model_cp(x)[0].sum().backward()
    for (name, p), p_cp in zip(model.named_parameters(), model_cp.parameters()):
        torch.testing.assert_close(p.grad, p_cp.grad, msg=name)


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


def test_dense_outputs_are_contiguous_nchw():
    # mmcv's CPU RoIAlign reads raw NCHW memory: channels-last strides gave garbage RoI features
    model = MSMLP('nano', out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    assert all(out.is_contiguous() for out in model(torch.randn(1, 3, 64, 64)))
