"""ActiveMLP: "Active Token Mixer" (Wei et al., AAAI 2023, arXiv 2203.06108); official code
microsoft/ActiveMLP.
"""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_

from ..ops import offset_sample
from ..ops.offset_sample import AXES
from ..registry import MODELS
from .base import VisionMLPBackbone, VisionMLPStage, run_block


class Mlp(nn.Module):
    """Linear, GELU, Linear (the official ``Mlp``; its dropout is 0)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class OffsetSampleProjection(nn.Module):
    """One ATM branch: sample every channel along H or W at its offset, then a dense 1x1
    projection (the official ``ATMOp``; ``weight`` keeps its ``[C, C, 1, 1]`` conv shape).

    Args:
        channels: channels C.
        axis: ``'h'`` or ``'w'``.
    """

    def __init__(self, channels: int, axis: str):
        super().__init__()
        self.axis = axis
        self.weight = nn.Parameter(torch.empty(channels, channels, 1, 1))
        self.bias = nn.Parameter(torch.empty(channels))

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """x: ``[B, H, W, C]``; offset: ``[B, H, W, C / S]``."""
        return F.linear(offset_sample(x, offset, AXES[self.axis]), self.weight.flatten(1),
                        self.bias)

    def extra_repr(self) -> str:
        return f'axis={self.axis!r}, channels={self.bias.numel()}'


class ATMLayer(nn.Module):
    """Active Token Mixer: W-sampled, H-sampled and channel branches, fused per channel by a
    softmax over the three whose logits come from the spatial mean of their sum, then ``proj``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.atm_c = nn.Linear(channels, channels, bias=False)
        self.atm_h = OffsetSampleProjection(channels, 'h')
        self.atm_w = OffsetSampleProjection(channels, 'w')
        self.fusion = Mlp(channels, channels // 4, channels * 3)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, offset_w: torch.Tensor,
                offset_h: torch.Tensor) -> torch.Tensor:
        B, _, _, C = x.shape
        w = self.atm_w(x, offset_w)
        h = self.atm_h(x, offset_h)
        c = self.atm_c(x)
        weights = self.fusion((w + h + c).mean((1, 2))).reshape(B, C, 3).softmax(dim=2)
        weights = weights[:, None, None]  # [B, 1, 1, C, 3]
        return self.proj(w * weights[..., 0] + h * weights[..., 1] + c * weights[..., 2])


class ActiveBlock(nn.Module):
    """``x + ATM(LN(x), offsets)``, then ``x + MLP(LN(x))``, on channels-last maps.

    Args:
        channels: channels C.
        mlp_ratio: hidden width of the MLP.
        share_dim: S, the number of consecutive channels sharing one offset.
        new_offset: whether the block creates offsets (``offset_layer``: LN + Linear to
            ``2C/S``: W offsets first, then H) or reuses the stage's latest ones.
        drop_path: stochastic depth rate.
    """

    def __init__(self, channels: int, mlp_ratio: float, share_dim: int, new_offset: bool,
                 drop_path: float = 0.):
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.atm = ATMLayer(channels)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = Mlp(channels, int(channels * mlp_ratio), channels)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.offset_layer = nn.Sequential(
            nn.LayerNorm(channels), nn.Linear(channels, channels * 2 // share_dim)
        ) if new_offset else None

    def forward(self, x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        offset_w, offset_h = offsets.chunk(2, dim=-1)
        x = x + self.drop_path(self.atm(self.norm1(x), offset_w, offset_h))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PEG(nn.Module):
    """Positional encoding generator: ``x + depthwise3x3(x)`` (one per stage, applied before
    every offset-creating block)."""

    def __init__(self, channels: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj(x)


class ActiveStage(VisionMLPStage):
    """Downsampling conv (stages 1-3), then the blocks on channels-last maps; offset-creating
    blocks first apply the stage's PEG and compute new offsets, the others reuse them."""

    def __init__(self, blocks, downsample: Optional[nn.Module], peg: PEG, with_cp: bool = False):
        super().__init__(blocks, downsample, with_cp)
        self.peg = peg

    def forward_blocks(self, x: torch.Tensor) -> torch.Tensor:
        offsets = None
        for block in self.blocks:
            if block.offset_layer is not None:
                x = self.peg(x)
                offsets = block.offset_layer(x.permute(0, 2, 3, 1))
            # channels-last views: no copies
            x = run_block(block, x.permute(0, 2, 3, 1), offsets, with_cp=self.with_cp)
            x = x.permute(0, 3, 1, 2)
        return x


@MODELS.register_module()
class ActiveMLP(VisionMLPBackbone):
    """ActiveMLP backbone.

    Archs ``xT``/``T``/``S``/``B``/``L`` are the official registered models (``ActivexTiny`` ...
    ``ActiveLarge``); ``nano`` is a small arch for CPU demos and tests.

    Structure (as the official code): a 7x7 stride-4 conv stem without norm; per stage a 3x3
    stride-2 conv (stages 1-3; the official code runs it at the end of the previous stage's
    last block), then blocks; block j creates new offsets when ``j % interval == 0`` and it is
    not the stage's last block, after applying the stage's PEG, and the other blocks reuse them.
    Offsets are shared by ``share_dims[i]`` consecutive channels and passed compact to the
    offset-sampling op.

    Outputs (strides 4/8/16/32, channels ``arch['channels']``): each stage's map before the next
    downsampling, through its LayerNorm ``norm{i}``, as the official segmentation backbone. The
    official classifier normalises the final map, then averages: use
    ``gap_before_final_norm=False`` with a ``GlobalAveragePooling`` neck (the classification
    configs do). Stem and downsamplers are padded convs, so any input size works; sizes follow
    the official ``floor((H - 3) / 4) + 1``, then halving rounded up.

    Args:
        arch: ``'nano'``, ``'xT'``, ``'T'``, ``'S'``, ``'B'``, ``'L'`` or a dict with keys
            ``channels``, ``depths``, ``mlp_ratios``, ``share_dims``, ``interval``.
        **kwargs: the :class:`VisionMLPBackbone` arguments.
    """
    min_input_size = 3  # the 7x7 stem convolution pads by 2
    no_weight_decay_keys = ('.peg.', )  # as the classification recipe (paramwise_cfg)
    arch_zoo = {
        'xtiny': {
            'channels': [64, 128, 320, 512], 'depths': [2, 2, 4, 2],
            'mlp_ratios': [4, 4, 4, 4], 'share_dims': [2, 4, 4, 8], 'interval': 2},
        'tiny': {
            'channels': [64, 128, 320, 512], 'depths': [2, 3, 10, 3],
            'mlp_ratios': [4, 4, 4, 4], 'share_dims': [2, 4, 4, 8], 'interval': 2},
        'small': {
            'channels': [64, 128, 320, 512], 'depths': [3, 4, 18, 3],
            'mlp_ratios': [8, 8, 4, 4], 'share_dims': [2, 4, 4, 8], 'interval': 6},
        'base': {
            'channels': [64, 128, 320, 512], 'depths': [3, 8, 27, 3],
            'mlp_ratios': [8, 8, 4, 4], 'share_dims': [2, 4, 4, 8], 'interval': 6},
        'large': {
            'channels': [96, 192, 384, 768], 'depths': [3, 4, 24, 3],
            'mlp_ratios': [4, 4, 4, 4], 'share_dims': [2, 4, 4, 8], 'interval': 6},
        'nano': {
            'channels': [32, 64, 128, 256], 'depths': [2, 2, 2, 2],
            'mlp_ratios': [4, 4, 4, 4], 'share_dims': [2, 4, 4, 8], 'interval': 2},
    }
    arch_aliases = {'xt': 'xtiny', 't': 'tiny', 's': 'small', 'b': 'base', 'l': 'large'}

    def __init__(self, arch='T', **kwargs):
        super().__init__(arch, **kwargs)
        settings = self.arch_settings
        for channels, share in zip(self.channels, settings['share_dims']):
            if channels % share:
                raise ValueError(f'{channels} channels cannot share offsets in groups of {share}')
        self.patch_embed = nn.Sequential()
        self.patch_embed.add_module('proj', nn.Conv2d(self.in_channels, self.channels[0], 7,
                                                      stride=4, padding=2))
        self.stages = nn.ModuleList()
        for i, (channels, depth) in enumerate(zip(self.channels, self.depths)):
            downsample = None
            if i > 0:
                downsample = nn.Sequential()
                downsample.add_module('proj', nn.Conv2d(self.channels[i - 1], channels, 3,
                                                        stride=2, padding=1))
            blocks = [
                ActiveBlock(channels, settings['mlp_ratios'][i], settings['share_dims'][i],
                            new_offset=j % settings['interval'] == 0 and j != depth - 1,
                            drop_path=self.drop_path_rates[i][j]) for j in range(depth)
            ]
            self.stages.append(ActiveStage(blocks, downsample, PEG(channels), self.with_cp))
        self._add_out_norms(eps=1e-5)
        self._init_official()
        self._freeze_stages()

    def _init_official(self):
        for module in self.modules():
            if isinstance(module, (nn.Linear, OffsetSampleProjection)):
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0, math.sqrt(2.0 / (fan_out // module.groups)))
                nn.init.zeros_(module.bias)
