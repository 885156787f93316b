"""MS-MLP: "Mixing and Shifting: Exploiting Global and Local Dependencies in Vision MLPs"
(Zheng et al., arXiv 2202.06510); official code JegZheng/MS-MLP.
"""
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_

from ..ops import ShiftMix
from ..registry import MODELS
from .base import VisionMLPBackbone, VisionMLPStage
from .layers import PatchEmbed


class MixShiftBlock(nn.Module):
    """MS-MLP block: shift-mix token mixing, then a LayerNorm + MLP channel mixer, one residual.

    ``x + drop_path(gamma * MLP(LN(shift_mix(x))))`` on ``[N, C, H, W]`` maps.

    Args:
        channels: channels of the block.
        shifts: cyclic shift of each channel group.
        kernel_sizes: depthwise kernel size of each channel group.
        mlp_ratio: hidden width of the channel MLP relative to ``channels``.
        drop_path: stochastic depth rate.
        layer_scale_init_value: initial value of the layer scale ``gamma``.
    """

    def __init__(self, channels: int, shifts: Sequence[int], kernel_sizes: Sequence[int],
                 mlp_ratio: float = 4., drop_path: float = 0.,
                 layer_scale_init_value: float = 1e-6):
        super().__init__()
        self.token_mixer = ShiftMix(channels, shifts, kernel_sizes)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        hidden = int(mlp_ratio * channels)
        self.pwconv1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(hidden, channels)
        self.gamma = nn.Parameter(torch.full((channels, ), layer_scale_init_value))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.token_mixer(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + self.drop_path(y.permute(0, 3, 1, 2))


@MODELS.register_module()
class MSMLP(VisionMLPBackbone):
    """MS-MLP backbone.

    Archs ``tiny``/``small``/``base`` are the official YAML configs
    (``configs/msmlp_*_patch4_shift5_224.yaml``; the ``config.py`` and class defaults differ and
    are not what the released models use); ``nano`` is a small arch for CPU demos and tests.

    Outputs (strides 4/8/16/32): the blocks' output of each stage, before the next stage's
    downsampling, with channels ``arch['channels']`` (tiny/small 96/192/384/768, base
    128/256/512/1024). In the classification setting (``gap_before_final_norm=True``,
    ``out_indices=-1``) the last map is average-pooled, then normalised by ``norm3`` -- the
    official model's pooled LayerNorm -- so an ImageClassifier with a ``LinearClsHead`` gives the
    official logits.

    Any input size works: the stem and the downsamplers zero-pad their input to a multiple of
    their stride (bottom/right), so a stride-s output is ``ceil(H / s) x ceil(W / s)``; the
    shift-mix roll is cyclic over the (padded) map, as over the whole image in training.

    Args:
        arch: ``'nano'``, ``'tiny'``, ``'small'``, ``'base'`` or a dict with keys ``channels``,
            ``depths``, ``shifts``, ``kernel_sizes`` (per stage, one per group), ``mlp_ratio``,
            ``patch_size``.
        **kwargs: the :class:`VisionMLPBackbone` arguments (in_channels, out_indices,
            frozen_stages, norm_eval, with_cp, drop_path_rate, gap_before_final_norm, init_cfg).
    """
    pool_before_norm = True  # the official head: average pool, then LayerNorm
    # shared by every arch: 5 channel groups, shifts -2..2, kernel sizes per stage and group
    _mixing = {
        'shifts': [-2, -1, 0, 1, 2],
        'kernel_sizes': [[1, 1, 3, 5, 7], [1, 3, 3, 5, 7], [1, 5, 5, 5, 7], [1, 7, 7, 7, 7]],
        'mlp_ratio': 4.,
        'patch_size': 4,
    }
    arch_zoo = {
        'tiny': {'channels': [96, 192, 384, 768], 'depths': [3, 3, 9, 3], **_mixing},
        'small': {'channels': [96, 192, 384, 768], 'depths': [3, 3, 27, 3], **_mixing},
        'base': {'channels': [128, 256, 512, 1024], 'depths': [3, 3, 27, 3], **_mixing},
        'nano': {'channels': [32, 64, 128, 256], 'depths': [1, 1, 2, 1], **_mixing},
    }
    arch_aliases = {'t': 'tiny', 's': 'small', 'b': 'base'}

    def __init__(self, arch='tiny', **kwargs):
        super().__init__(arch, **kwargs)
        settings = self.arch_settings
        self.patch_embed = PatchEmbed(self.in_channels, self.channels[0], settings['patch_size'])
        self.stages = nn.ModuleList()
        for i, (channels, depth) in enumerate(zip(self.channels, self.depths)):
            downsample = PatchEmbed(self.channels[i - 1], channels, 2) if i > 0 else None
            blocks = [
                MixShiftBlock(channels, settings['shifts'], settings['kernel_sizes'][i],
                              settings['mlp_ratio'], drop_path=self.drop_path_rates[i][j])
                for j in range(depth)
            ]
            self.stages.append(VisionMLPStage(blocks, downsample, self.with_cp))
        self._add_out_norms(eps=1e-6)
        # The official init: Linear layers trunc-normal(0.02) with zero bias; convolutions and
        # norms keep PyTorch's defaults.
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=.02)
                nn.init.zeros_(module.bias)
        self._freeze_stages()
