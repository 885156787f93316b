import math

import pytest
import torch
import torch.nn.functional as F

from vmlp_mm.backbones.layers import SparseDropout


def test_sparse_dropout_is_dropouts_distribution():
    """Each element zeroed with probability p wherever it lies (the tail after the last draw
    included), the others scaled by 1 / (1 - p); the gradient is the same mask."""
    torch.manual_seed(0)
    p, n = 0.03, 1_000_000
    drop = SparseDropout(p).train()
    x = (torch.rand(n) + 1).requires_grad_()
    out = drop(x)
    dropped = out == 0
    tolerance = 5 * math.sqrt(p * (1 - p) / (n // 10))
    for part in dropped.view(10, -1):  # every tenth of the tensor, the last one too
        assert abs(part.float().mean().item() - p) < tolerance
    torch.testing.assert_close(out[~dropped], x[~dropped] / (1 - p))
    out.backward(torch.ones_like(out))
    torch.testing.assert_close(x.grad, (~dropped).float() / (1 - p))


@pytest.mark.parametrize('numel', [1, 7])
def test_sparse_dropout_of_few_elements(numel):
    torch.manual_seed(0)
    drop = SparseDropout(0.1).train()
    zeros = sum(int((drop(torch.ones(numel)) == 0).sum()) for _ in range(20_000 // numel))
    assert abs(zeros / (20_000 // numel * numel) - 0.1) < 0.01


def test_sparse_dropout_follows_the_default_generator():
    drop = SparseDropout(0.05).train()
    x = torch.randn(4, 100, 32)
    torch.manual_seed(1)
    first = drop(x)
    torch.manual_seed(1)
    assert torch.equal(drop(x), first)
    assert torch.equal(drop.eval()(x), x)


def test_sparse_dropout_is_nn_dropout_outside_its_case():
    x = torch.randn(8, 64)
    for drop in (SparseDropout(0.3).train(), SparseDropout(0.05, inplace=True).train()):
        torch.manual_seed(2)
        expected = F.dropout(x.clone(), drop.p)
        torch.manual_seed(2)
        assert torch.equal(drop(x.clone()), expected)
