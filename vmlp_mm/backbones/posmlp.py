"""PosMLP: "Parameterization of Cross-Token Relations with Relative Positional Encoding for
Vision MLP" (Wang et al., ACM MM 2022); official code Zhicaiwww/PosMLP.
"""
from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_

from ..registry import MODELS
from .base import VisionMLPBackbone, VisionMLPStage
from .layers import LayerNorm2d


def relative_offsets(window_size: int) -> torch.Tensor:
    """``[N, N, 5]`` features ``(dx, dy, dx^2, dy^2, dx*dy)`` of target token m and source n of
    a window (token t = row * ws + col), with the official signs: ``dx = col(n) - col(m)`` but
    ``dy = row(m) - row(n)``; the learned centres carry these signs."""
    rows, cols = torch.arange(window_size).repeat_interleave(window_size), torch.arange(
        window_size).repeat(window_size)
    dx = (cols[None, :] - cols[:, None]).float()
    dy = (rows[:, None] - rows[None, :]).float()
    return torch.stack([dx, dy, dx * dx, dy * dy, dx * dy], dim=-1)


class QuadraticPositionalMixing(nn.Module):
    """PosMLP's GQPE token mixing inside ``ws x ws`` windows.

    Channel ``c`` belongs to group ``c mod G`` (interleaved, as the official einops pattern).
    Group g mixes the tokens of a window with ``P_g = softmax_n(-(v - mu_g)^T S_g S_g^T
    (v - mu_g) / 2)`` over the relative offsets ``v = (dx, dy)`` of source n from target m, then
    adds a bias per target token. Tokens marked as padding are excluded from the softmax (their
    weights are renormalised over the real sources), so padding a map to whole windows does not
    change the real tokens' outputs.

    Args:
        window_size: side of the windows.
        groups: number of positional maps ``G`` (divides the channels).
    """

    def __init__(self, window_size: int, groups: int):
        super().__init__()
        self.window_size = window_size
        self.groups = groups
        # Gaussian centre mu_g and spread S_g (inverse covariance S_g S_g^T) of every group
        self.centers = nn.Parameter(torch.randn(groups, 2) * 1e-2)
        self.spreads = nn.Parameter(torch.eye(2).repeat(groups, 1, 1)
                                    + torch.randn(groups, 2, 2) * 1e-2)
        self.token_bias = nn.Parameter(torch.zeros(window_size**2))
        # recomputed, not saved: the official checkpoints' copy (rel_indices) is dropped
        self.register_buffer('offsets', relative_offsets(window_size), persistent=False)

    def position_maps(self) -> torch.Tensor:
        """``[G, N, N]``: row m holds target m's weights over the source tokens."""
        inv_cov = self.spreads @ self.spreads.transpose(1, 2)
        a, b, c, d = inv_cov[:, 0, 0], inv_cov[:, 0, 1], inv_cov[:, 1, 1], inv_cov[:, 1, 0]
        mu_x, mu_y = self.centers[:, 0], self.centers[:, 1]
        # -(v - mu)^T A (v - mu) / 2 without its constant, on (dx, dy, dx^2, dy^2, dx dy)
        coefficients = torch.stack([a * mu_x + b * mu_y, c * mu_y + d * mu_x, -a / 2, -c / 2,
                                    -(b + d) / 2], dim=-1)
        scores = torch.einsum('mnf,gf->gmn', self.offsets.to(coefficients.dtype), coefficients)
        return scores.softmax(-1)

    def forward(self, u: torch.Tensor, gate: torch.Tensor,
                real: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Returns ``mix(u) * gate``.

        Args:
            u: ``[B, W, N, C]`` tokens of W windows.
            gate: ``[B, W, N, C]``, multiplied into the output.
            real: ``[W, N]`` 1 for real tokens, 0 for padding; None when nothing is padded.
        """
        b, w, n, c = u.shape
        g = self.groups
        maps = self.position_maps()
        if real is not None:
            u = u * real.view(1, w, n, 1)
        # one batched GEMM per group: [G, N, N] @ [G, N, B * W * C / G]
        grouped = u.reshape(b, w, n, c // g, g).permute(4, 2, 0, 1, 3).reshape(g, n, -1)
        mixed = torch.bmm(maps, grouped).view(g, n, b, w, c // g)
        if real is not None:
            # the softmax restricted to real sources: divide by the real sources' weight
            mixed = mixed / (maps @ real.t().to(maps.dtype)).view(g, n, 1, w, 1)
        mixed = mixed.permute(2, 3, 1, 4, 0).reshape(b, w, n, c)
        return (mixed + self.token_bias.view(1, 1, n, 1)) * gate


class PosMLPBlock(nn.Module):
    """PosMLP layer on windowed tokens: ``x + drop_path(fc2(mix(u) * v))`` with
    ``[u, v] = GELU(fc1(LN(x)))`` (halves of the hidden channels; no norm on u, unlike gMLP).
    """

    def __init__(self, channels: int, window_size: int, groups: int, mlp_ratio: float,
                 drop: float = 0., drop_path: float = 0.):
        super().__init__()
        hidden = int(mlp_ratio * channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.token_mixer = QuadraticPositionalMixing(window_size, groups)
        self.fc2 = nn.Linear(hidden // 2, channels)
        self.drop = nn.Dropout(drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, real: Optional[torch.Tensor] = None) -> torch.Tensor:
        u, v = self.act(self.fc1(self.norm(x))).chunk(2, dim=-1)
        return x + self.drop_path(self.drop(self.fc2(self.token_mixer(u, v, real))))


class PosMLPStage(VisionMLPStage):
    """Downsampling (stages 1-3), then the blocks on windows of the stage's window size.

    The map is padded at the bottom/right to whole windows once for the stage and cropped back
    at its end; padded tokens are excluded from every block's token mixing (see
    :class:`QuadraticPositionalMixing`). The other operations are per token, so the real tokens'
    outputs do not depend on the padding.
    """

    def __init__(self, blocks, downsample: Optional[nn.Module], window_size: int,
                 with_cp: bool = False):
        super().__init__(blocks, downsample, with_cp)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample is not None:
            x = self.downsample(x)
        n, c, h, w = x.shape
        ws = self.window_size
        rows, cols = -(-h // ws), -(-w // ws)
        real = None
        if rows * ws != h or cols * ws != w:
            x = F.pad(x, (0, cols * ws - w, 0, rows * ws - h))
            real = F.pad(x.new_ones(1, 1, h, w), (0, cols * ws - w, 0, rows * ws - h))
            real = real.view(rows, ws, cols, ws).permute(0, 2, 1, 3).reshape(rows * cols, ws * ws)
        # [N, W, ws * ws, C] windows (row-major within a window)
        x = x.view(n, c, rows, ws, cols, ws).permute(0, 2, 4, 3, 5, 1).reshape(
            n, rows * cols, ws * ws, c)
        for block in self.blocks:
            if self.with_cp and x.requires_grad:
                x = torch.utils.checkpoint.checkpoint(block, x, real, use_reentrant=False)
            else:
                x = block(x, real)
        x = x.view(n, rows, cols, ws, ws, c).permute(0, 5, 1, 3, 2, 4).reshape(
            n, c, rows * ws, cols * ws)
        return x[:, :, :h, :w]


class ExpandingDownsample(nn.Module):
    """The official ConvPatchMerging: a 3x3 stride-2 conv in which every input channel makes
    ``out / in`` output channels (``groups=in``), then a LayerNorm (eps 1e-6)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1,
                              groups=in_channels)
        self.norm = LayerNorm2d(out_channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


@MODELS.register_module()
class PosMLP(VisionMLPBackbone):
    """PosMLP backbone (the official GQPE model: quadratic, generalised, symmetric covariance,
    softmax over sources, token bias, ``pos_only``, no shift).

    Archs ``T``/``S`` are the official ``PosMLP_T14_224``/``PosMLP_S14_224`` (= the YAMLs);
    ``nano`` is a small arch for CPU demos and tests.

    Structure: a conv stem (3x3 s2, BN, GELU, 3x3 s2, BN, GELU, 1x1, BN; BN eps 1e-6); per
    stage an expanding 3x3 s2 conv + LayerNorm (stages 1-3), then blocks inside windows of
    ``window_sizes`` (14, 14, 14, 7). Any input size works: stages pad to whole windows, mask the
    padding out of the token mixing and crop back (at multiples of 224 nothing is padded and
    outputs equal the official model's, which accepts only those). Note that the windows make the
    mixing local at dense-prediction sizes (stage 3 is global at 224), as in the official model.

    Outputs (strides 4/8/16/32, channels ``arch['channels']``: T 96/192/384/768, S
    128/256/512/1024): each stage's map, through a LayerNorm ``norm{i}`` (eps 1e-6). The official
    classifier normalises the final map, then averages: use ``out_indices=-1`` with
    ``gap_before_final_norm=False`` and a ``GlobalAveragePooling`` neck, as the configs do.

    Args:
        arch: ``'T'``, ``'S'``, ``'nano'`` or a dict with keys ``channels``, ``depths``,
            ``mlp_ratios``, ``window_sizes``, ``groups`` (positional maps per stage).
        drop_rate: dropout after each block's output projection (official training: 0.02333).
        **kwargs: the :class:`VisionMLPBackbone` arguments.
    """
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], {
            'channels': [96, 192, 384, 768], 'depths': [2, 2, 18, 2],
            'mlp_ratios': [4, 4, 4, 2], 'window_sizes': [14, 14, 14, 7],
            'groups': [8, 16, 32, 64]}),
        **dict.fromkeys(['s', 'small'], {
            'channels': [128, 256, 512, 1024], 'depths': [2, 2, 18, 2],
            'mlp_ratios': [4, 4, 4, 2], 'window_sizes': [14, 14, 14, 7],
            'groups': [8, 16, 32, 64]}),
        'nano': {
            'channels': [32, 64, 128, 256], 'depths': [2, 2, 2, 2],
            'mlp_ratios': [4, 4, 4, 2], 'window_sizes': [8, 8, 4, 2],
            'groups': [4, 8, 16, 32]},
    }

    def __init__(self, arch='T', drop_rate: float = 0., **kwargs):
        kwargs.setdefault('gap_before_final_norm', False)  # the official order: norm, then pool
        super().__init__(arch, **kwargs)
        settings = self.arch_settings
        for i, (channels, groups) in enumerate(zip(self.channels, settings['groups'])):
            hidden = int(settings['mlp_ratios'][i] * channels) // 2
            if hidden % groups:
                raise ValueError(f'stage {i}: {hidden} gated channels cannot form {groups} '
                                 'positional groups')
        c0 = self.channels[0]
        self.patch_embed = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(self.in_channels, c0 // 2, 3, stride=2, padding=1),
            bn1=nn.BatchNorm2d(c0 // 2, eps=1e-6), act1=nn.GELU(),
            conv2=nn.Conv2d(c0 // 2, c0, 3, stride=2, padding=1),
            bn2=nn.BatchNorm2d(c0, eps=1e-6), act2=nn.GELU(),
            conv3=nn.Conv2d(c0, c0, 1),
            bn3=nn.BatchNorm2d(c0, eps=1e-6)))
        self.stages = nn.ModuleList()
        for i, (channels, depth) in enumerate(zip(self.channels, self.depths)):
            downsample = ExpandingDownsample(self.channels[i - 1], channels) if i > 0 else None
            blocks = [
                PosMLPBlock(channels, settings['window_sizes'][i], settings['groups'][i],
                            settings['mlp_ratios'][i], drop_rate, self.drop_path_rates[i][j])
                for j in range(depth)
            ]
            self.stages.append(PosMLPStage(blocks, downsample, settings['window_sizes'][i],
                                           self.with_cp))
        self._add_out_norms(eps=1e-6)
        self._init_official()
        self._freeze_stages()

    def _init_official(self):
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                trunc_normal_(module.weight, std=.02, a=-2, b=2)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
