"""Helpers shared by the tests (pytest puts tests/, the conftest's folder, on ``sys.path``)."""
import torch


def randomize_batchnorms(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affines, so that a mis-mapped or mis-fused BN shows up
    (default ones make BN an identity and such tests weak)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                c = module.num_features
                module.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                module.weight.copy_(1 + torch.randn(c, generator=gen) * 0.1)
                module.bias.copy_(torch.randn(c, generator=gen) * 0.1)
