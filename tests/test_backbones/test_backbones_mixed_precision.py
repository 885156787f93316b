"""Every backbone under CPU bfloat16 autocast (a training step) and cast to bfloat16 (forward),
classification and dense settings, against float32."""
import pytest
import torch

from vmlp_testing import BACKBONES, by_name

SETTINGS = {
    'classification': dict(out_indices=-1, gap_before_final_norm=True),
    'dense': dict(out_indices=(0, 1, 2, 3), gap_before_final_norm=False),
}


def relative_error(actual, expected):
    actual, expected = actual.detach().float(), expected.detach().float()
    return float((actual - expected).norm() / expected.norm().clamp_min(1e-6))


def projection_loss(outputs, weights):
    """A loss with gradients of order 1 (squares of normalised outputs would have almost none)."""
    return sum((o.float() * w).mean() for o, w in zip(outputs, weights))


def build(cls, setting):
    torch.manual_seed(0)
    kwargs = dict(SETTINGS[setting])
    if setting == 'classification':  # the official order of pooling and the final norm
        kwargs['gap_before_final_norm'] = cls.pool_before_norm
    return cls('nano', drop_path_rate=0., **kwargs)  # both passes alike (Strip-MLP: 0.1)


@pytest.mark.parametrize('setting', list(SETTINGS))
@pytest.mark.parametrize('cls', BACKBONES, ids=by_name)
def test_training_step_under_bf16_autocast(cls, setting):
    model = build(cls, setting).train()
    x = torch.randn(2, 3, 72, 88)
    reference = model(x)
    weights = [torch.randn_like(o) for o in reference]
    grads = torch.autograd.grad(projection_loss(reference, weights), list(model.parameters()),
                                allow_unused=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(x)
    projection_loss(outs, weights).backward()
    for out, ref in zip(outs, reference):
        assert torch.isfinite(out).all()
        assert relative_error(out, ref.detach()) < 0.05
    for (name, p), ref in zip(model.named_parameters(), grads):
        if ref is None:
            continue
        assert p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all(), name
    # the gradient as a whole points where float32's does (single tensors whose float32
    # gradient is ~0, behind BatchNorm invariances, are bfloat16 rounding noise)
    flat = torch.cat([p.grad.flatten() for p, r in zip(model.parameters(), grads) if r is not None])
    flat_ref = torch.cat([r.flatten() for r in grads if r is not None])
    assert float(torch.nn.functional.cosine_similarity(flat, flat_ref, dim=0)) > 0.95


@pytest.mark.parametrize('setting', list(SETTINGS))
@pytest.mark.parametrize('cls', BACKBONES, ids=by_name)
def test_pure_bf16_forward(cls, setting):
    model = build(cls, setting).eval()
    x = torch.randn(2, 3, 72, 88)
    with torch.no_grad():
        reference = model(x)
        outs = model.bfloat16()(x.bfloat16())
    for out, ref in zip(outs, reference):
        assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
        assert relative_error(out, ref) < 0.08
