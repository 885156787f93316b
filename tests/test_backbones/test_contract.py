"""The backbone contract of docs/design.md, checked on every family's demo arch."""
import pytest
import torch

from vmlp_testing import BACKBONES, by_name, quick_first


def dense(cls, **kwargs):
    return cls('nano', out_indices=(0, 1, 2, 3), gap_before_final_norm=False, **kwargs)


@pytest.mark.parametrize('cls', BACKBONES, ids=by_name)
@pytest.mark.parametrize('size', [(512, 512), (800, 1216), (333, 517)])
def test_dense_outputs_any_size(cls, size):
    model = dense(cls).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert [o.shape[1] for o in outs] == model.channels
    for i, out in enumerate(outs):
        stride = 4 * 2**i
        # within one of size / stride (padding conventions differ by model)
        assert abs(out.shape[2] - size[0] / stride) <= 1
        assert abs(out.shape[3] - size[1] / stride) <= 1
        # contiguous NCHW: mmcv's CPU RoIAlign reads raw NCHW memory (channels-last gave garbage)
        assert out.is_contiguous()


@pytest.mark.parametrize('cls', BACKBONES, ids=by_name)
def test_batched_padded_inputs_keep_samples_apart(cls):
    """A batch whose maps need padding at every stage (72 x 88): each sample's outputs equal
    those of the sample alone."""
    model = dense(cls).eval()
    x = torch.randn(2, 3, 72, 88)
    with torch.no_grad():
        batched, single = model(x), model(x[1:])
    for a, b in zip(batched, single):
        torch.testing.assert_close(a[1:], b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('cls', BACKBONES, ids=by_name)
def test_out_indices_and_errors(cls):
    assert cls('nano', out_indices=(-1, 0)).out_indices == (0, 3)
    with pytest.raises(ValueError, match='out of range'):
        cls('nano', out_indices=(4, ))
    with pytest.raises(ValueError, match='Unknown arch'):
        cls('huge')
    with pytest.raises(ValueError, match='missing keys'):
        cls({'channels': [8, 16, 32, 64]})


@pytest.mark.parametrize('cls', BACKBONES, ids=by_name)
def test_wrong_input_channels_is_a_clear_error(cls):
    model = cls('nano')
    with pytest.raises(ValueError, match='in_channels=4'):
        model(torch.randn(1, 4, 32, 32))
    # eval: BatchNorm backbones cannot train on one 1x1 map per channel
    assert len(cls('nano', in_channels=4).eval()(torch.randn(1, 4, 32, 32))) == 1


@pytest.mark.parametrize('cls', BACKBONES, ids=by_name)
def test_frozen_stages(cls):
    model = dense(cls, frozen_stages=2)
    model.train()
    assert not any(p.requires_grad for p in model.patch_embed.parameters())
    assert not any(p.requires_grad for p in model.stages[1].parameters())
    assert not any(p.requires_grad for p in model.norm1.parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert not model.stages[0].training and model.stages[2].training


@pytest.mark.parametrize('cls', BACKBONES, ids=by_name)
def test_with_cp_gives_same_gradients(cls):
    torch.manual_seed(0)
    model = dense(cls)
    model_cp = dense(cls, with_cp=True)
    model_cp.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    sum(o.sum() for o in model(x)).backward()
    sum(o.sum() for o in model_cp(x)).backward()
    for (name, p), p_cp in zip(model.named_parameters(), model_cp.parameters()):
        torch.testing.assert_close(p.grad, p_cp.grad, msg=name)


@pytest.mark.parametrize('cls', BACKBONES, ids=by_name)
def test_get_layer_depth_covers_every_parameter(cls):
    model = cls('nano')
    num_layers = sum(model.depths) + 2
    depths = [model.get_layer_depth('backbone.' + name, 'backbone.')
              for name, _ in model.named_parameters()]
    assert all(n == num_layers and 0 <= d < num_layers for d, n in depths)
    assert model.get_layer_depth('backbone.patch_embed.proj.weight', 'backbone.')[0] == 0
    assert model.get_layer_depth('head.fc.weight', 'backbone.')[0] == num_layers - 1


@pytest.mark.parametrize('cls', quick_first(BACKBONES, ids=map(by_name, BACKBONES)))
def test_torch_compile_fullgraph(cls):
    model = dense(cls).eval()
    x = torch.randn(1, 3, 64, 64)
    compiled = torch.compile(model, fullgraph=True, backend='aot_eager')
    for a, b in zip(compiled(x), model(x)):
        torch.testing.assert_close(a, b)
