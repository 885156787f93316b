"""Strip-MLP: "Strip-MLP: Efficient Token Interaction for Vision MLP" (Cao et al., ICCV 2023);
official code Med-Process/Strip_MLP.
"""
from collections import OrderedDict
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_

from ..ops import DepthwiseConv2d
from ..registry import MODELS
from .base import VisionMLPBackbone, VisionMLPStage
from .layers import pad_to_multiple


def to_windows(x: torch.Tensor, size: int) -> Tuple[torch.Tensor, int, int]:
    """``[N, C, H, W]`` -> ``[N * rows * cols, C, size, size]`` zero-padded windows."""
    n, c = x.shape[:2]
    x = pad_to_multiple(x, size)
    rows, cols = x.shape[2] // size, x.shape[3] // size
    if rows == cols == 1:
        return x, 1, 1
    x = x.view(n, c, rows, size, cols, size).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(-1, c, size, size), rows, cols


def from_windows(x: torch.Tensor, rows: int, cols: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`to_windows`, cropped to ``h x w``."""
    if rows != 1 or cols != 1:
        c, size = x.shape[1], x.shape[2]
        x = x.view(-1, rows, cols, c, size, size).permute(0, 3, 1, 4, 2, 5)
        x = x.reshape(-1, c, rows * size, cols * size)
    return x[:, :, :h, :w]


class StripFC(nn.Conv2d):
    """Cross-strip FC: every row (``along='w'``) or column (``along='h'``) of an ``S x S``
    window is mixed by an ``S x S`` matrix, plus the matrices of the two neighbouring strips
    (zero beyond the window), and a bias. Channel ``c`` uses the matrices of group
    ``c mod G``.

    It is the official module, a grouped (1, 3) conv over ``G * S`` "token channels" (same
    weight layout, initialisation and state dict), run as batched GEMMs over the groups instead
    of a conv over permuted views, in one of two ways:

    - training: each strip is laid next to its two neighbours (``unfold`` over the zero-padded
      strips), so the three taps are one product with ``K = 3S``. The other way round
      (multiply, then add shifted slices of the products) makes autograd allocate and zero three
      product-sized gradients per call, which was the largest cost of the layer's backward;
      ``unfold``'s backward is one accumulation;
    - without gradients: multiply first (``N = 3S``), then add the neighbours' shifted products,
      which copies the input once rather than three times.
    """

    def __init__(self, size: int, groups: int, along: str):
        super().__init__(groups * size, groups * size, (1, 3), groups=groups)
        self.size, self.along = size, along

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, s, _ = x.shape
        g = self.groups
        # strips along W (rows, i = h) or along H (columns, i = w): [B, C, i, position], then
        # [G, B, C/G, i, position], the channels of group c mod G together
        strips = x if self.along == 'w' else x.transpose(2, 3)
        strips = strips.unflatten(1, (c // g, g)).permute(2, 0, 1, 3, 4)
        taps = self.weight.view(g, s, s, 3)  # [G, output position, input position, tap]
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            # [G, B * C/G * S, S * 3]: strip i's (position, tap) entry is strip (i - 1 + tap)'s
            rows = F.pad(strips, (0, 0, 1, 1)).unfold(3, 3, 1).reshape(g, -1, 3 * s)
            out = torch.baddbmm(self.bias.view(g, 1, s), rows,
                                taps.permute(0, 2, 3, 1).reshape(g, 3 * s, s))
            out = out.view(g, b, c // g, s, s)
        else:
            # [G, B, C/G, S, tap, S]: every strip's product with each tap's matrix
            products = torch.bmm(strips.reshape(g, -1, s),
                                 taps.permute(0, 2, 3, 1).reshape(g, s, 3 * s))
            products = products.view(g, b, c // g, s, 3, s)
            # strip i collects tap 0 of strip i - 1, tap 1 of itself and tap 2 of strip i + 1
            out = products[..., 1, :] + self.bias.view(g, 1, 1, 1, s)
            out[..., 1:, :] += products[..., :-1, 0, :]
            out[..., :-1, :] += products[..., 1:, 2, :]
        h, w = (3, 4) if self.along == 'w' else (4, 3)  # out: [G, B, C/G, i, position]
        # one copy back, into the input's memory format (Strip-MLP's blocks run channels-last)
        if x.is_contiguous(memory_format=torch.channels_last):
            return out.permute(1, h, w, 2, 0).reshape(b, s, s, c).permute(0, 3, 1, 2)
        return out.permute(1, 2, 0, h, w).reshape(b, c, s, s)


class RelativePositionTable(nn.Module):
    """Position embedding of an ``S x S`` window that depends on (column - row): entry
    ``(i, j)`` is ``table[clamp(j - i, -S, S) + S]``."""

    def __init__(self, channels: int, size: int):
        super().__init__()
        self.embeddings_table = nn.Parameter(torch.empty(2 * size + 1, channels))
        trunc_normal_(self.embeddings_table, std=.02)
        position = torch.arange(size)
        self.register_buffer('index', position[None, :] - position[:, None] + size,
                             persistent=False)

    def forward(self) -> torch.Tensor:
        return self.embeddings_table[self.index].permute(2, 0, 1)  # [C, S, S]


class StripMixing(nn.Module):
    """Strip-MLP's token mixing (``StripMLP_Block``): 1x1 conv+BN+GELU, then half the channels
    through the channel-group strip mixing (CGSMM) and half through the local strip mixing
    (LSMM), fused by a 1x1 conv.

    Any map size: the CGSMM strip FCs are sized to the pretraining map (``strip_size`` S), so
    they run on ``S x S`` windows (zero padding at the bottom/right, cropped back), with the
    position embeddings added per window and padded positions zeroed before each strip FC. Only
    the strip FCs and position tables are windowed: the 1x1 convs, BN and GELU between them run on
    the cropped map (BN statistics from real pixels). A pixel then sees the real pixels of its
    window along its strip (and the neighbouring strips); at the pretraining size the window is
    the whole map, as in the official model. The LSMM convs and the reweighting's global mean run
    on the whole map.
    """

    def __init__(self, channels: int, strip_size: int, strip_groups: int):
        super().__init__()
        half = channels // 2
        if half % strip_groups:
            raise ValueError(f'{half} strip channels cannot form {strip_groups} groups')
        self.strip_size = strip_size
        self.mlp = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels),
                                 nn.GELU())
        # CGSMM
        self.pos_h = RelativePositionTable(half, strip_size)
        self.proj_h = StripFC(strip_size, strip_groups, along='w')
        self.fuse_h = nn.Conv2d(channels, half, 1, bias=False)
        self.bn = nn.BatchNorm2d(half)
        self.act = nn.GELU()
        self.pos_w = RelativePositionTable(half, strip_size)
        self.proj_w = StripFC(strip_size, strip_groups, along='h')
        self.fuse_w = nn.Conv2d(channels, half, 1, bias=False)
        # LSMM: (3, 7) and (7, 3) depthwise convs, reweighted per channel. DepthwiseConv2d
        # (our weight gradient) where the kernel is 7 wide: oneDNN's weight gradient takes
        # 2-4x longer there; for 3-wide kernels ours gains nothing consistent
        # (benchmark_ops.py --only depthwise_conv, docs/benchmarks.md)
        self.conv_3x7 = DepthwiseConv2d(half, (3, 7))
        self.conv_7x3 = nn.Conv2d(half, half, (7, 3), padding=(3, 1), groups=half, bias=False)
        self.reweight = nn.Sequential(OrderedDict(
            fc1=nn.Conv2d(half, half // 2, 1), act=nn.GELU(),
            fc2=nn.Conv2d(half // 2, half * 3, 1)))
        self.fuse = nn.Conv2d(channels, channels, 1, bias=False)

    def _windowed(self, fc: StripFC, pos: RelativePositionTable, x: torch.Tensor,
                  real: Optional[torch.Tensor]) -> torch.Tensor:
        h, w = x.shape[2:]
        windows, rows, cols = to_windows(x, self.strip_size)
        windows = windows + pos()
        if real is not None:  # [N * windows, ...] times each window's [1, S, S] mask
            windows = (windows.unflatten(0, (-1, rows * cols)) * real).flatten(0, 1)
        return from_windows(fc(windows), rows, cols, h, w)

    def channel_group_strips(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        size = self.strip_size
        # 1 on the real pixels of every window, the same for both strip FCs; None unpadded
        real = None if h % size == 0 and w % size == 0 else to_windows(
            x.new_ones(1, 1, h, w), size)[0]
        y = self._windowed(self.proj_h, self.pos_h, x, real)
        y = self.act(self.bn(self.fuse_h(torch.cat([y, x], dim=1))))
        z = self._windowed(self.proj_w, self.pos_w, y, real)
        return self.fuse_w(torch.cat([x, z], dim=1))  # the official order (x first here)

    def local_strips(self, x: torch.Tensor) -> torch.Tensor:
        wide, tall = self.conv_3x7(x), self.conv_7x3(x)
        n, c = x.shape[:2]
        # per channel, softmax over the branches (tall, wide, identity); fc2's outputs are
        # interleaved: channel c's branch k is output 3c + k
        weights = self.reweight((tall + wide + x).mean((2, 3), keepdim=True))
        weights = weights.view(n, c, 3, 1, 1).softmax(dim=2)
        return tall * weights[:, :, 0] + wide * weights[:, :, 1] + x * weights[:, :, 2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp(x)
        strips, local = x.chunk(2, dim=1)
        return self.fuse(torch.cat([self.channel_group_strips(strips),
                                    self.local_strips(local)], dim=1))


def grn_reference(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                  eps: float = 1e-6) -> torch.Tensor:
    """ConvNeXt-V2's global response normalisation of ``[N, H, W, C]`` maps, as written in the
    paper (and the official Strip-MLP): ``gamma * (x * Nx) + beta + x``."""
    norms = torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True)
    return gamma * (x * (norms / (norms.mean(dim=-1, keepdim=True) + eps))) + beta + x


def _relative_norms(x: torch.Tensor, eps: float):
    """Each channel's L2 norm over the map, and it divided by (the channels' mean + eps), in
    float32 (or float64) whatever ``x``'s dtype: a 56x56 map of values near 8 overflows a
    float16 sum of squares."""
    norms = torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True,
                                     dtype=torch.promote_types(x.dtype, torch.float32))
    denominator = norms.mean(dim=-1, keepdim=True) + eps
    return norms, denominator, norms / denominator


def grn(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
        eps: float = 1e-6) -> torch.Tensor:
    """:func:`grn_reference` as one fused multiply-add over the map, ``x * (gamma * Nx + 1) +
    beta``, instead of four full-size passes."""
    return torch.addcmul(*_grn_operands(x, gamma, beta, eps)[:3])


def _grn_operands(x, gamma, beta, eps):
    """``beta, x, scale`` of GRN's multiply-add, then the norms for the backward. The result has
    the dtype of ``gamma * x``, as the reference's: under autocast a bfloat16 map with float32
    parameters gives float32, so ``1 + gamma * Nx`` is not rounded to bfloat16's 8 bits (where a
    small ``gamma`` would vanish)."""
    norms, denominator, relative = _relative_norms(x, eps)
    dtype = torch.promote_types(x.dtype, gamma.dtype)
    return beta.to(dtype), x, (gamma * relative + 1).to(dtype), norms, denominator, relative


class _GRNFunction(torch.autograd.Function):
    """:func:`grn` with a hand-written backward.

    Autograd of the five-op expression keeps and walks five full-size intermediates; this
    backward makes three full-size passes (the per-channel sums of ``grad * x``, ``grad *
    scale`` and one multiply-add). It was the largest elementwise cost of Strip-MLP's training
    step. Per-channel sums accumulate in float32 (or float64) for half-precision inputs.
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        shift, x, scale, norms, denominator, relative = _grn_operands(x, gamma, beta, eps)
        ctx.save_for_backward(x, gamma, norms, denominator, relative, scale)
        ctx.beta_dtype = beta.dtype
        return torch.addcmul(shift, x, scale)

    @staticmethod
    def backward(ctx, grad):
        x, gamma, norms, denominator, relative, scale = ctx.saved_tensors
        grad_x = grad_gamma = grad_beta = None
        # per (sample, channel): sum over positions of grad * x
        grad_dot_x = (grad * x).sum(dim=(1, 2), keepdim=True, dtype=norms.dtype)
        grad_relative = gamma * grad_dot_x
        if ctx.needs_input_grad[0]:
            # relative = norms / (mean_c(norms) + eps); d norms / d x = x / norms
            grad_norms = (grad_relative - (grad_relative * relative).mean(-1, keepdim=True)) \
                / denominator
            # (a channel that is zero everywhere has no gradient through its norm, as in
            # vector_norm's own backward)
            coefficient = torch.where(norms > 0, grad_norms / norms, 0.).to(scale.dtype)
            grad_x = torch.addcmul(grad * scale, x, coefficient).to(x.dtype)
        if ctx.needs_input_grad[1]:
            grad_gamma = (grad_dot_x * relative).sum(dim=(0, 1, 2)).to(gamma.dtype)
        if ctx.needs_input_grad[2]:
            grad_beta = grad.sum(dim=(0, 1, 2), dtype=norms.dtype).to(ctx.beta_dtype)
        return grad_x, grad_gamma, grad_beta, None


class GRN(nn.Module):
    """Global response normalisation (ConvNeXt-V2) on channels-last maps: ``gamma * (x * Nx) +
    beta + x`` with ``Nx`` each channel's L2 norm over the map divided by the mean of those
    norms. Training runs :class:`_GRNFunction`; inference and tracing (FLOP counting, export),
    where a Python autograd function would be an opaque node, run its forward, :func:`grn`."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and not torch.jit.is_tracing() and (
                x.requires_grad or self.gamma.requires_grad or self.beta.requires_grad):
            return _GRNFunction.apply(x, self.gamma, self.beta, self.eps)
        return grn(x, self.gamma, self.beta, self.eps)


class StripMLPBlock(nn.Module):
    """``x + drop_path(token mixing)``, then ``x + drop_path(channel mixing)``.

    Token mixing: BN, GELU, depthwise 3x3 conv (pre-activation), then :class:`StripMixing`.
    Channel mixing: depthwise 7x7 conv, LayerNorm (eps 1e-5), Linear to ``ratio * C``, GELU,
    GRN, Linear back.
    """

    def __init__(self, channels: int, strip_size: int, strip_groups: int, mlp_ratio: int,
                 drop_path: float = 0.):
        super().__init__()
        self.pre_bn = nn.BatchNorm2d(channels)
        self.pre_act = nn.GELU()
        self.dwconv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.token_mixer = StripMixing(channels, strip_size, strip_groups)
        self.conv_7x7 = DepthwiseConv2d(channels, 7)  # see StripMixing.conv_3x7
        self.norm = nn.LayerNorm(channels)
        self.fc1 = nn.Linear(channels, mlp_ratio * channels)
        self.act = nn.GELU()
        self.grn = GRN(mlp_ratio * channels)
        self.fc2 = nn.Linear(mlp_ratio * channels, channels)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.token_mixer(self.dwconv(self.pre_act(self.pre_bn(x)))))
        y = self.norm(self.conv_7x7(x).permute(0, 2, 3, 1))
        y = self.fc2(self.grn(self.act(self.fc1(y))))
        return x + self.drop_path(y.permute(0, 3, 1, 2))


class Downsample(nn.Module):
    """A bias-free ``k x k`` stride-``k`` conv (``in * expansion`` outputs, ``groups``), with
    zero padding at the bottom/right to a multiple of ``k`` (the official floors)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 1):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=kernel_size,
                              groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(pad_to_multiple(x, self.kernel_size))


@MODELS.register_module()
class StripMLP(VisionMLPBackbone):
    """Strip-MLP backbone.

    Archs ``tiny_light`` (T*), ``tiny`` (T), ``small`` (S), ``base`` (B) are the official
    ImageNet configs; ``nano`` is a small arch for CPU demos and tests.

    Structure (as the official code): a 4x4 stride-4 conv stem without bias or norm; per stage a
    2x2 stride-2 conv (stages 1-3), then blocks; cross-stage skips: the stride-8 stage input
    goes through grouped 2x2 convs to strides 16 and 32 and the stride-16 stage input to stride
    32, added to those stages' inputs. The strip FCs are sized to the 224 maps (56/28/14/7);
    at other sizes they run in windows of that size (see :class:`StripMixing`), so the official
    weights load unchanged; at 224 outputs equal the official model's, which accepts only 224.
    Stride-2 convs pad odd maps instead of dropping the last row/column.

    Outputs (strides 4/8/16/32, channels ``arch['channels']``: T*/T 80/160/320/640, S
    96/192/384/768, B 112/224/448/896): each stage's block output, through a BatchNorm
    ``norm{i}``; the official classifier normalises the final map (BatchNorm), then averages:
    use ``out_indices=-1`` with a ``GlobalAveragePooling`` neck.

    Args:
        arch: an arch name or a dict with keys ``channels``, ``depths``, ``strip_sizes``,
            ``strip_groups`` (the official rule: C / 4 when C is a multiple of 80, else C / 8).
        mlp_ratio: channel-mixing expansion (official alpha: 3).
        drop_path_rate: stochastic depth of **every** block (the official code fixes 0.1 for
            all blocks rather than a linear schedule).
        **kwargs: the :class:`VisionMLPBackbone` arguments.
    """
    first_conv = 'patch_embed.conv'
    # strip windows (ragged maps are padded and masked); GRN's hand-written backward
    fx_leaves = VisionMLPBackbone.fx_leaves + (StripMixing, GRN)
    arch_zoo = {
        'tiny_light': {'channels': [80, 160, 320, 640], 'depths': [2, 2, 6, 2],
                       'strip_sizes': [56, 28, 14, 7], 'strip_groups': [20, 40, 80, 160]},
        'tiny': {'channels': [80, 160, 320, 640], 'depths': [2, 2, 12, 2],
                 'strip_sizes': [56, 28, 14, 7], 'strip_groups': [20, 40, 80, 160]},
        'small': {'channels': [96, 192, 384, 768], 'depths': [2, 2, 18, 2],
                  'strip_sizes': [56, 28, 14, 7], 'strip_groups': [12, 24, 48, 96]},
        'base': {'channels': [112, 224, 448, 896], 'depths': [2, 2, 18, 2],
                 'strip_sizes': [56, 28, 14, 7], 'strip_groups': [14, 28, 56, 112]},
        'nano': {'channels': [32, 64, 128, 256], 'depths': [1, 1, 2, 1],
                 'strip_sizes': [16, 8, 4, 2], 'strip_groups': [4, 8, 16, 32]},
    }

    def __init__(self, arch='tiny', mlp_ratio: int = 3, drop_path_rate: float = 0.1,
                 **kwargs):
        super().__init__(arch, drop_path_rate=drop_path_rate, **kwargs)
        self.drop_path_rates = [[drop_path_rate] * depth for depth in self.depths]
        settings = self.arch_settings
        c = self.channels
        self.patch_embed = Downsample(self.in_channels, c[0], 4)
        self.stages = nn.ModuleList()
        for i, (channels, depth) in enumerate(zip(c, self.depths)):
            downsample = Downsample(c[i - 1], channels, 2) if i > 0 else None
            blocks = [
                StripMLPBlock(channels, settings['strip_sizes'][i], settings['strip_groups'][i],
                              mlp_ratio, self.drop_path_rates[i][j]) for j in range(depth)
            ]
            self.stages.append(VisionMLPStage(blocks, downsample, self.with_cp))
        # cross-stage skips (grouped: every input channel makes two outputs)
        self.skip_1to2 = Downsample(c[1], c[2], 2, groups=c[1])
        self.skip_1to3 = Downsample(c[2], c[3], 2, groups=c[2])
        self.skip_2to3 = Downsample(c[2], c[3], 2, groups=c[2])
        self._add_out_norms(norm_layer=nn.BatchNorm2d)
        self._freeze_stages()

    @classmethod
    def window_sides(cls, arch_settings: dict):
        return list(arch_settings['strip_sizes'])

    def _stage_input(self, index: int, x: torch.Tensor, carried: dict) -> torch.Tensor:
        """Adds the cross-stage skips: from stage 1's input to stages 2 and 3, from stage 2's
        input (before its own skip is added) to stage 3.

        The maps are made channels-last here (a no-op after the first stage): oneDNN runs the
        blocks' depthwise convolutions 1.5-3x faster on them, their LayerNorm and Linear layers
        read the channels-last memory without a copy, and the 1x1 convolutions are plain GEMMs.
        The outputs are made contiguous again (:meth:`_output`).
        """
        x = x.contiguous(memory_format=torch.channels_last)
        if index == 1:
            carried['to_2'] = self.skip_1to2(x)
            carried['1_to_3'] = self.skip_1to3(carried['to_2'])
        elif index == 2:
            carried['2_to_3'] = self.skip_2to3(x)
            x = x + carried['to_2']
        elif index == 3:
            x = x + carried['1_to_3'] + carried['2_to_3']
        return x

    def _freeze_stages(self) -> None:
        super()._freeze_stages()
        # a skip belongs to the stage it feeds
        for name, stage in (('skip_1to2', 2), ('skip_1to3', 3), ('skip_2to3', 3)):
            if hasattr(self, name) and stage < self.frozen_stages:
                module = getattr(self, name)
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """As the base class; a skip shares the layer of the first block of the stage it
        feeds."""
        name = param_name[len(prefix):] if param_name.startswith(prefix) else None
        if name is not None and name.startswith('skip_'):
            target = int(name[len('skip_1to')])
            return sum(self.depths[:target]) + 1, sum(self.depths) + 2
        return super().get_layer_depth(param_name, prefix)
