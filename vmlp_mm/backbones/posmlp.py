"""PosMLP: "Parameterization of Cross-Token Relations with Relative Positional Encoding for
Vision MLP" (Wang et al., ACM MM 2022); official code Zhicaiwww/PosMLP.
"""
from collections import OrderedDict
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_

from ..ops.positional_mix import positional_maps, positional_mix, score_dtype
from ..registry import MODELS
from .base import VisionMLPBackbone, VisionMLPStage, run_block
from .layers import LayerNorm2d, SparseDropout


@dataclass(frozen=True)
class WindowGrid:
    """How a stage cuts its ``height x width`` map into windows of (at most) ``window``.

    The windows tile the map from the top-left; where a side is not a multiple of the window,
    the last row/column of windows is smaller (a ragged edge) instead of padded. The grid has up
    to four regions of equal windows (full, right edge, bottom edge, corner); tokens are laid
    out region by region, window by window, row-major inside a window, as ``[B, T, C]``.

    A ragged window holds the real tokens of what used to be a padded, masked window: its
    softmax over sources and its token bias (the top-left crop) are exactly the masked ones, but
    nothing is computed for padding and no masked row can underflow to 0/0.
    """
    height: int
    width: int
    window: Tuple[int, int]

    @property
    def regions(self) -> List[Tuple[slice, slice, int, int]]:
        """``(rows, cols, window_rows, window_cols)`` of each non-empty region."""
        (wh, ww), h, w = self.window, self.height, self.width
        full_h, full_w = h - h % wh, w - w % ww
        bands = [(slice(0, full_h), wh), (slice(full_h, h), h - full_h)]
        columns = [(slice(0, full_w), ww), (slice(full_w, w), w - full_w)]
        return [(rs, cs, a, b) for rs, a in bands for cs, b in columns
                if rs.stop > rs.start and cs.stop > cs.start]

    @staticmethod
    def _split(tokens: torch.Tensor, regions, dim: int = 1) -> Tuple[torch.Tensor, ...]:
        """The tokens of each region, along the token dimension ``dim``."""
        if len(regions) == 1:  # no split: its backward would copy the gradient once more
            return (tokens, )
        return tokens.split([(rs.stop - rs.start) * (cs.stop - cs.start)
                             for rs, cs, _, _ in regions], dim)

    def tile(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, T, C]`` windowed tokens."""
        n, c = x.shape[:2]
        parts = []
        for rs, cs, a, b in self.regions:
            part = x[:, :, rs, cs]
            rows, cols = part.shape[2] // a, part.shape[3] // b
            parts.append(part.reshape(n, c, rows, a, cols, b).permute(0, 2, 4, 3, 5, 1)
                         .reshape(n, -1, c))
        return parts[0] if len(parts) == 1 else torch.cat(parts, 1)

    def untile(self, tokens: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`tile`."""
        n, _, c = tokens.shape
        regions = self.regions
        parts = self._split(tokens, regions)
        bands, band_start = [], None  # regions come band by band, left to right
        for part, (rs, cs, a, b) in zip(parts, regions):
            rows, cols = (rs.stop - rs.start) // a, (cs.stop - cs.start) // b
            part = part.reshape(n, rows, cols, a, b, c).permute(0, 5, 1, 3, 2, 4).reshape(
                n, c, rows * a, cols * b)
            if rs.start != band_start:
                bands.append([])
                band_start = rs.start
            bands[-1].append(part)
        bands = [band[0] if len(band) == 1 else torch.cat(band, 3) for band in bands]
        return bands[0] if len(bands) == 1 else torch.cat(bands, 2)

    def channel_first_windows(self, features: torch.Tensor, groups: int):
        """Yields ``([G, R, a * b]`` grouped windows, ``a``, ``b)`` per region of channel-first
        features ``[C, B, T]`` (channels group-major): the ``R = C / G * B * windows`` rows of
        each group, the op's layout (:func:`~vmlp_mm.ops.positional_mix`). A view when the grid
        has one region."""
        regions = self.regions
        for part, (_, _, a, b) in zip(self._split(features, regions, dim=2), regions):
            yield part.reshape(groups, -1, a * b), a, b


def group_major(t: torch.Tensor, groups: int, dim: int = 0) -> torch.Tensor:
    """``t`` with its channels along ``dim`` reordered from the official interleaving (channel
    ``k * G + g`` in group ``g``) to group-major order (``g * K + k``), as a new tensor."""
    return t.unflatten(dim, (-1, groups)).transpose(dim, dim + 1).flatten(dim, dim + 1)


class QuadraticPositionalMixing(nn.Module):
    """PosMLP's GQPE token mixing inside windows.

    Channel ``c`` belongs to group ``c mod G`` (interleaved, as the official einops pattern).
    Group g mixes the tokens of a window with ``P_g = softmax_n(-(v - mu_g)^T S_g S_g^T
    (v - mu_g) / 2)`` over the relative offsets ``v = (dx, dy)`` of source n from target m, then
    adds a bias per target token.

    The maps are a function of the offsets, so they exist for any window shape; the token bias
    is learned for the ``window_size`` square and is resized (bilinear) for a grid whose full
    windows have another shape, then cropped to a ragged window's top-left part.

    The mixing is the fused op :func:`~vmlp_mm.ops.positional_mix` per window shape: it never
    forms the ``[G, N, N]`` maps of a window, so a window's memory does not grow with N^2. Its
    scores and softmax are in float32 whatever the parameters' and inputs' dtype (offsets up to
    the window side, squared, lose whole units in bfloat16).

    Args:
        window_size: side of the windows the weights were trained with.
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

    def coefficients(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``[G, 5]`` coefficients of the scores on ``(dx, dy, dx^2, dy^2, dx dy)``, in ``dtype``
        (float32, or float64 for float64 inputs; see :mod:`vmlp_mm.ops.positional_mix`)."""
        with torch.autocast(self.centers.device.type, enabled=False):
            spreads, centers = self.spreads.to(dtype), self.centers.to(dtype)
            inv_cov = spreads @ spreads.transpose(1, 2)
            a, b, c, d = inv_cov[:, 0, 0], inv_cov[:, 0, 1], inv_cov[:, 1, 1], inv_cov[:, 1, 0]
            mu_x, mu_y = centers[:, 0], centers[:, 1]
            # -(v - mu)^T A (v - mu) / 2 without its constant, which the softmax drops
            return torch.stack([a * mu_x + b * mu_y, c * mu_y + d * mu_x, -a / 2, -c / 2,
                                -(b + d) / 2], dim=-1)

    def position_maps(self, rows: int, cols: int) -> torch.Tensor:
        """``[G, N, N]`` maps of a ``rows x cols`` window (float32, or float64 for float64
        parameters): row m holds target m's weights over the source tokens. The forward never
        forms them (:func:`~vmlp_mm.ops.positional_mix`); they are for analysis and the
        official formulation."""
        dtype = torch.promote_types(self.centers.dtype, torch.float32)
        return positional_maps(self.coefficients(dtype), rows, cols)

    def window_bias(self, window: Tuple[int, int]) -> torch.Tensor:
        """``[a, b]`` token bias of a grid's full windows of shape ``window``."""
        ws = self.window_size
        bias = self.token_bias.view(1, 1, ws, ws)
        if tuple(window) != (ws, ws):
            bias = F.interpolate(bias.float(), size=tuple(window), mode='bilinear',
                                 align_corners=False).to(bias.dtype)
        return bias[0, 0]

    def forward(self, u: torch.Tensor, gate: torch.Tensor, grid: WindowGrid) -> torch.Tensor:
        """Returns ``mix(u) * gate`` for channel-first features ``[C, B, T]`` of tokens laid
        out by ``grid``, channels in group-major order (:func:`group_major`)."""
        c, b, _ = u.shape
        coefficients = self.coefficients(score_dtype(u.dtype))
        bias = self.window_bias(grid.window)
        outputs = []
        for window, rows, cols in grid.channel_first_windows(u, self.groups):
            n = rows * cols
            mixed = positional_mix(window, coefficients, rows, cols)
            token_bias = bias[:rows, :cols].reshape(n).to(mixed.dtype)
            outputs.append((mixed + token_bias).view(c, b, -1))
        mixed = outputs[0] if len(outputs) == 1 else torch.cat(outputs, 2)
        return mixed * gate


class PosMLPBlock(nn.Module):
    """PosMLP layer on windowed tokens: ``x + drop_path(fc2(mix(u) * v))`` with
    ``[u, v] = GELU(fc1(LN(x)))`` (halves of the hidden channels; no norm on u, unlike gMLP).

    The hidden features are channel-first (``[C, B, T]``) in group-major channel order -- the
    layout the mixing's GEMMs read without a copy -- so fc1's and fc2's weights are reordered
    to it (:func:`group_major`) in the forward; the parameters keep the official order.
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
        self.drop = SparseDropout(drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, grid: WindowGrid) -> torch.Tensor:
        b, t, c = x.shape
        groups = self.token_mixer.groups
        tokens = self.norm(x).view(b * t, c).t()
        # fc1's two halves as two products: chunking one product would make its backward
        # concatenate the halves' gradients, a copy of the block's widest tensor. Both halves'
        # weights are reordered in one copy and unbound (slicing would make the backward fill
        # a zero gradient of the whole weight per half).
        half = self.fc1.out_features // 2
        weights = group_major(self.fc1.weight.view(2, half, c), groups, dim=1).unbind(0)
        biases = group_major(self.fc1.bias.view(2, half, 1), groups, dim=1).unbind(0)
        # indexed, not iterated: fx tracing cannot iterate the unbound proxies
        u, v = (self.act(torch.addmm(biases[i], weights[i], tokens)).view(half, b, t)
                for i in range(2))
        mixed = self.token_mixer(u, v, grid).view(half, b * t)
        out = torch.addmm(self.fc2.bias, mixed.t(),
                          group_major(self.fc2.weight, groups, dim=1).t()).view(b, t, c)
        return x + self.drop_path(self.drop(out))


def window_grid(height: int, width: int, window_size: int, global_mixing: bool,
                max_window_tokens: int) -> WindowGrid:
    """The window grid of a stage's ``height x width`` map (:class:`PosMLPStage`)."""
    if not global_mixing:
        return WindowGrid(height, width, (window_size, window_size))
    # fewest windows (then the squarest) whose full windows fit the budget
    best = None
    for rows in range(1, height + 1):
        wh = -(-height // rows)
        cols = -(-width // max(1, max_window_tokens // wh))
        ww = -(-width // cols)
        if wh * ww <= max_window_tokens:
            key = (rows * cols, abs(wh - ww))
            if best is None or key < best[0]:
                best = (key, (wh, ww))
    return WindowGrid(height, width, best[1])


# a leaf of fx graphs (the grid is read off the map's shape): the blocks get it as a value
@torch.fx.wrap
def map_window_grid(x: torch.Tensor, window_size: int, global_mixing: bool,
                    max_window_tokens: int) -> WindowGrid:
    """:func:`window_grid` of a ``[N, C, H, W]`` map."""
    return window_grid(x.shape[2], x.shape[3], window_size, global_mixing, max_window_tokens)


class PosMLPStage(VisionMLPStage):
    """Downsampling (stages 1-3), then the blocks on the windows of the stage's
    :class:`WindowGrid`, cut once for the stage.

    Windowed stages use windows of ``window_size`` at every input size (ragged at the bottom and
    right edges). A global stage -- one whose window covers the whole map at the pretraining size
    -- covers the whole map at any size, as long as that is at most ``max_window_tokens`` tokens;
    a larger map is cut into the fewest near-equal windows within that budget.

    Args:
        window_size: the window side the weights were trained with.
        global_mixing: whether the stage's window covers the whole map (see above).
        max_window_tokens: the budget of a global stage's window.
    """

    def __init__(self, blocks, downsample: Optional[nn.Module], window_size: int,
                 global_mixing: bool = False, max_window_tokens: int = 1024,
                 with_cp: bool = False):
        super().__init__(blocks, downsample, with_cp)
        self.window_size = window_size
        self.global_mixing = global_mixing
        self.max_window_tokens = max_window_tokens

    def grid(self, height: int, width: int) -> WindowGrid:
        return window_grid(height, width, self.window_size, self.global_mixing,
                           self.max_window_tokens)

    def forward_blocks(self, x: torch.Tensor) -> torch.Tensor:
        grid = map_window_grid(x, self.window_size, self.global_mixing, self.max_window_tokens)
        x = grid.tile(x)
        for block in self.blocks:
            x = run_block(block, x, grid, with_cp=self.with_cp)
        return grid.untile(x)


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
    ``window_sizes`` (14, 14, 14, 7).

    Resolution policy: at the pretraining size (224; the nano arch: 64, the digits demo) stages 3
    and 4 mix globally (one 14x14 window on the 14x14 map, one 7x7 on 7x7) and stages 1-2 in
    windows. ``dense_policy='global'`` (default) keeps that structure at any size: the global
    stages' window grows with the map (positional maps evaluated at the new offsets, token bias
    resized bilinearly) up to ``max_window_tokens`` tokens, beyond which the map is cut into the
    fewest near-equal windows within that budget; windowed stages keep their window.
    ``dense_policy='windowed'`` keeps the trained window everywhere (purely local mixing at
    dense-prediction sizes). Either way a map that is not a multiple of its window gets smaller
    windows at its bottom/right edge (exactly the old padded-and-masked windows, without the
    padding), and at multiples of 224 outputs equal the official model's (which accepts only
    those).

    Outputs (strides 4/8/16/32, channels ``arch['channels']``: T 96/192/384/768, S
    128/256/512/1024): each stage's map, through a LayerNorm ``norm{i}`` (eps 1e-6). The official
    classifier normalises the final map, then averages: use ``out_indices=-1`` with
    ``gap_before_final_norm=False`` and a ``GlobalAveragePooling`` neck, as the configs do.

    Args:
        arch: ``'T'``, ``'S'``, ``'nano'`` or a dict with keys ``channels``, ``depths``,
            ``mlp_ratios``, ``window_sizes``, ``groups`` (positional maps per stage).
        drop_rate: dropout after each block's output projection (official training: 0.02333).
        dense_policy: ``'global'`` or ``'windowed'`` (above).
        max_window_tokens: largest window of a global stage. The default, 1024 (32 x 32), keeps
            stage 3 global on the 512 x 512 crops of ADE20K. The mixing op's memory does not
            grow with a window's ``N^2`` weights, but its time does: ``N`` multiply-adds per
            token and channel in three GEMMs per block, 5x stage 3's at 224 for N = 1024. A
            800 x 1216 detection input (50 x 76 tokens at stage 3) then mixes in 4 windows of
            25 x 38; one window of all 3,800 tokens fits in the same memory but took 2.7-4.4x
            the training step time of the 4 windows and 4.8-5.4x that of ``'windowed'`` on CPU
            (two machines, docs/benchmarks.md), hence the default.
        pretraining_size: input size of the weights (default: 224; nano: 64); decides which
            stages are global.
        **kwargs: the :class:`VisionMLPBackbone` arguments.
    """
    first_conv = 'patch_embed.conv1'
    # the mixing resizes its positional maps to each grid's windows
    fx_leaves = VisionMLPBackbone.fx_leaves + (QuadraticPositionalMixing, )
    arch_zoo = {
        'tiny': {
            'channels': [96, 192, 384, 768], 'depths': [2, 2, 18, 2],
            'mlp_ratios': [4, 4, 4, 2], 'window_sizes': [14, 14, 14, 7],
            'groups': [8, 16, 32, 64]},
        'small': {
            'channels': [128, 256, 512, 1024], 'depths': [2, 2, 18, 2],
            'mlp_ratios': [4, 4, 4, 2], 'window_sizes': [14, 14, 14, 7],
            'groups': [8, 16, 32, 64]},
        'nano': {
            'channels': [32, 64, 128, 256], 'depths': [2, 2, 2, 2],
            # at its 64 x 64 pretraining (16/8/4/2 maps): 4 windows in stages 1 and 2, one
            # covering the map in stages 3 and 4, as T/S at 224
            'mlp_ratios': [4, 4, 4, 2], 'window_sizes': [8, 4, 4, 2],
            'groups': [4, 8, 16, 32]},
    }
    arch_aliases = {'t': 'tiny', 's': 'small'}

    def __init__(self, arch='T', drop_rate: float = 0., dense_policy: str = 'global',
                 max_window_tokens: int = 1024, pretraining_size: Optional[int] = None,
                 **kwargs):
        super().__init__(arch, **kwargs)
        if dense_policy not in ('global', 'windowed'):
            raise ValueError(f"dense_policy must be 'global' or 'windowed', got {dense_policy!r}")
        if not isinstance(max_window_tokens, int) or max_window_tokens < 1:
            raise ValueError(f'max_window_tokens must be a positive int, got {max_window_tokens!r}')
        self.dense_policy = dense_policy
        self.pretraining_size = pretraining_size or (64 if str(arch).lower() == 'nano' else 224)
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
        side = -(-self.pretraining_size // 4)  # the stage's map side at the pretraining size
        for i, (channels, depth) in enumerate(zip(self.channels, self.depths)):
            side = side if i == 0 else -(-side // 2)
            window_size = settings['window_sizes'][i]
            downsample = ExpandingDownsample(self.channels[i - 1], channels) if i > 0 else None
            blocks = [
                PosMLPBlock(channels, settings['window_sizes'][i], settings['groups'][i],
                            settings['mlp_ratios'][i], drop_rate, self.drop_path_rates[i][j])
                for j in range(depth)
            ]
            global_mixing = dense_policy == 'global' and side <= window_size
            self.stages.append(PosMLPStage(blocks, downsample, window_size, global_mixing,
                                           max_window_tokens, self.with_cp))
        self._add_out_norms(eps=1e-6)
        self._init_official()
        self._freeze_stages()

    @classmethod
    def window_sides(cls, arch_settings: dict):
        return list(arch_settings['window_sizes'])

    def _init_official(self):
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                trunc_normal_(module.weight, std=.02, a=-2, b=2)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
