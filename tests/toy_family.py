"""A throwaway sixth model family: what adding a backbone takes, in one file.

A backbone class (its own file in ``vmlp_mm/backbones/`` for a real one), a converter (its own
module in ``vmlp_mm/converters/``) and one :class:`~vmlp_mm.families.ModelFamily` entry. With
``VMLP_TOY_FAMILY=1`` the conftest registers the entry before the tests are collected, and the
generic tests -- contract, timm, converter -- take the family like the real five
(``tests/test_families.py`` runs them so). Without it nothing here is registered.
"""
import torch
import torch.nn as nn

from vmlp_mm.backbones.base import VisionMLPBackbone, VisionMLPStage
from vmlp_mm.backbones.layers import LayerNorm2d, PatchEmbed
from vmlp_mm.converters.base import match_arch, rename_keys
from vmlp_mm.families import ModelFamily


class ToyBlock(nn.Module):
    """``x + fc(norm(depthwise3x3(x)))``."""

    def __init__(self, channels: int):
        super().__init__()
        self.token_mixer = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.norm = LayerNorm2d(channels)
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(self.norm(self.token_mixer(x)))


class ToyMLP(VisionMLPBackbone):
    """The smallest backbone the contract accepts: a patch stem, then per stage a downsampler
    and blocks."""
    arch_zoo = {'nano': {'channels': [32, 64, 128, 256], 'depths': [1, 1, 2, 1]}}

    def __init__(self, arch='nano', **kwargs):
        super().__init__(arch, **kwargs)
        self.patch_embed = PatchEmbed(self.in_channels, self.channels[0], 4)
        self.stages = nn.ModuleList(
            VisionMLPStage([ToyBlock(c) for _ in range(d)],
                           PatchEmbed(self.channels[i - 1], c, 2) if i else None, self.with_cp)
            for i, (c, d) in enumerate(zip(self.channels, self.depths)))
        self._add_out_norms()
        self._freeze_stages()


# -- its converter: "official" checkpoints name the parts stem / layers / norm / head ----------
RULES = [
    (r'^stem\.', 'backbone.patch_embed.'),
    (r'^layers\.(\d+)\.', r'backbone.stages.\1.'),
    (r'^norm\.', 'backbone.norm3.'),
    (r'^head\.', 'head.fc.'),
]


def convert(state_dict):
    channels = [state_dict['stem.proj.weight'].shape[0] * 2**i for i in range(4)]
    return rename_keys(state_dict, RULES), match_arch(ToyMLP, {'channels': channels})


# -- its one entry ---------------------------------------------------------------------------
TOY_FAMILY = ModelFamily('toymlp', ToyMLP, converter=__name__)
