"""RepMLPNet: "RepMLPNet: Hierarchical Vision MLP with Re-parameterized Locality"
(Ding et al., CVPR 2022); official code DingXiaoH/RepMLP.
"""
from collections import OrderedDict
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath

from ..registry import MODELS
from .base import VisionMLPBackbone, VisionMLPStage
from .layers import pad_to_multiple


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
            padding: int = 0, groups: int = 1) -> nn.Sequential:
    """A bias-free conv (``conv``) followed by BatchNorm (``bn``)."""
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups,
                       bias=False),
        bn=nn.BatchNorm2d(out_channels)))


def bn_scale_shift(bn: nn.BatchNorm2d) -> Tuple[torch.Tensor, torch.Tensor]:
    """The per-channel affine map ``y = scale * x + shift`` of an eval-mode BatchNorm."""
    scale = bn.weight / (bn.running_var + bn.eps).sqrt()
    return scale, bn.bias - bn.running_mean * scale


class ConvEmbed(nn.Sequential):
    """Non-overlapping ``k x k`` stride-``k`` conv, BN and ReLU: the stem (k = 4) and the
    downsamplers (k = 2). Inputs are zero-padded at the bottom/right to a multiple of ``k``, so
    the output is ``ceil(H / k) x ceil(W / k)`` and no pixel is dropped (the official code
    truncates)."""

    def __init__(self, in_channels: int, out_channels: int, patch_size: int):
        super().__init__(OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, patch_size, stride=patch_size, bias=False),
            bn=nn.BatchNorm2d(out_channels),
            relu=nn.ReLU()))
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad_to_multiple(x, self.patch_size))


class GlobalPerceptron(nn.Module):
    """Channel gate from the global mean: pool, 1x1 conv, ReLU, 1x1 conv, sigmoid."""

    def __init__(self, channels: int, hidden_channels: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden_channels, 1)
        self.fc2 = nn.Conv2d(hidden_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class RepMLPBlock(nn.Module):
    """RepMLP block: global, partition and local perceptrons mixing the tokens of a map.

    The map is cut into ``p x p`` partitions (windows). Channel ``c`` belongs to shareset
    ``c mod S`` (interleaved sharing, as the official reshape implies) and each shareset has one
    ``p^2 x p^2`` matrix (``fc3``) applied to every window of its channels, followed by a BN per
    shareset (``fc3_bn``). Training-time depthwise conv branches (``repconv{k}``: ``k x k`` conv
    per shareset + BN, zero padding at window borders) add locality; ``switch_to_deploy`` folds
    them and the BNs into ``fc3`` (then with a bias). The sum is gated channel-wise by the global
    perceptron.

    Any map size: the map is zero-padded at the bottom/right to a multiple of ``p`` and the
    result cropped back, so the pretrained ``p`` (the official partition size) is kept:

    * partition FC: a padded position is zero, so it contributes nothing to the real positions
      of its window; a real pixel's output is the FC restricted to the real part of its window;
    * local conv branches: the padding zeros are exactly the zero padding the convs see at any
      window border;
    * BNs (``fc3_bn``, the branches' BNs) normalise the cropped map, so training statistics come
      from real positions only;
    * the global perceptron pools the unpadded map.

    A pixel therefore depends only on real pixels of its window and on the global mean, the
    same receptive field as the official model, which equals this one at multiples of ``p``.

    Args:
        channels: channels of the map.
        partition_size: side ``p`` of the windows.
        sharesets: number of FC matrices ``S`` shared by the channels (divides ``channels``).
        conv_kernels: kernel sizes (odd) of the local conv branches.
        gp_reduction: the global perceptron's hidden width is ``channels // gp_reduction``.
        deploy: build the folded inference form (``fc3`` with bias, no BN, no conv branches).
    """

    def __init__(self, channels: int, partition_size: int, sharesets: int,
                 conv_kernels: Sequence[int] = (1, 3), gp_reduction: int = 4,
                 deploy: bool = False):
        super().__init__()
        if channels % sharesets:
            raise ValueError(f'{channels} channels cannot be split into {sharesets} sharesets')
        if any(k % 2 == 0 for k in conv_kernels):
            raise ValueError(f'conv_kernels must be odd, got {tuple(conv_kernels)}')
        self.channels = channels
        self.partition_size = partition_size
        self.sharesets = sharesets
        self.conv_kernels = tuple(conv_kernels)
        self.deploy = deploy
        self.gp = GlobalPerceptron(channels, channels // gp_reduction)
        rows = sharesets * partition_size**2
        # the official layout: a grouped 1x1 conv over S * p^2 "channels", group s = shareset s
        self.fc3 = nn.Conv2d(rows, rows, 1, groups=sharesets, bias=deploy)
        self.fc3_bn = nn.Identity() if deploy else nn.BatchNorm2d(sharesets)
        if not deploy:
            for k in self.conv_kernels:
                self.add_module(f'repconv{k}', conv_bn(sharesets, sharesets, k, padding=k // 2,
                                                       groups=sharesets))

    def _shareset_bn(self, x: torch.Tensor, bn: nn.Module) -> torch.Tensor:
        """BatchNorm with one channel per shareset: channel c uses ``bn`` channel ``c mod S``."""
        if isinstance(bn, nn.Identity):
            return x
        n, c, h, w = x.shape
        return bn(x.reshape(n * c // self.sharesets, self.sharesets, h, w)).reshape(n, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p, s = self.partition_size, self.sharesets
        gate = self.gp(x)
        padded = pad_to_multiple(x, p)
        rows, cols = padded.shape[2] // p, padded.shape[3] // p
        # [S, N * rows * cols * C / S, p * p]: every window of every channel, by shareset
        windows = padded.reshape(n, c // s, s, rows, p, cols, p).permute(2, 0, 3, 5, 1, 4, 6)
        windows = windows.reshape(s, -1, p * p)

        def to_map(t: torch.Tensor) -> torch.Tensor:  # inverse of the windowing, then crop
            t = t.reshape(s, n, rows, cols, c // s, p, p).permute(1, 4, 0, 2, 5, 3, 6)
            return t.reshape(n, c, rows * p, cols * p)[:, :, :h, :w]

        weight = self.fc3.weight.view(s, p * p, p * p)
        out = torch.bmm(windows, weight.transpose(1, 2))
        if self.fc3.bias is not None:
            out = out + self.fc3.bias.view(s, 1, p * p)
        out = self._shareset_bn(to_map(out), self.fc3_bn)
        if not self.deploy:
            images = windows.transpose(0, 1).reshape(-1, s, p, p)
            for k in self.conv_kernels:
                branch = getattr(self, f'repconv{k}')
                local = branch.conv(images).reshape(-1, s, p * p).transpose(0, 1)
                out = out + self._shareset_bn(to_map(local), branch.bn)
        return out * gate

    @torch.no_grad()
    def equivalent_fc3(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Weight ``[S * p^2, p^2, 1, 1]`` and bias ``[S * p^2]`` of the single ``fc3`` that
        equals fc3 + fc3_bn + the conv branches (eval-mode BNs), in the parameters' dtype."""
        s, area = self.sharesets, self.partition_size**2
        scale, shift = bn_scale_shift(self.fc3_bn)
        weight = self.fc3.weight.view(s, area, area) * scale.view(s, 1, 1)
        bias = shift.view(s, 1).expand(s, area)
        if self.conv_kernels:
            size = max(self.conv_kernels)
            kernel = weight.new_zeros(s, 1, size, size)
            for k in self.conv_kernels:
                branch = getattr(self, f'repconv{k}')
                branch_scale, branch_shift = bn_scale_shift(branch.bn)
                kernel += F.pad(branch.conv.weight * branch_scale.view(s, 1, 1, 1),
                                [(size - k) // 2] * 4)
                bias = bias + branch_shift.view(s, 1)
            weight = weight + self._conv_as_matrix(kernel)
        return weight.reshape(s * area, area, 1, 1).clone(), bias.reshape(-1).clone()

    def _conv_as_matrix(self, kernel: torch.Tensor) -> torch.Tensor:
        """``[S, p^2 (out), p^2 (in)]`` matrices of a per-shareset depthwise conv on one
        zero-padded window: column i is the conv's response to a one-hot at pixel i."""
        p, s = self.partition_size, self.sharesets
        one_hots = torch.eye(p * p, dtype=kernel.dtype, device=kernel.device)
        one_hots = one_hots.view(p * p, 1, p, p).expand(p * p, s, p, p)
        response = F.conv2d(one_hots, kernel, padding=kernel.shape[-1] // 2, groups=s)
        return response.reshape(p * p, s, p * p).permute(1, 2, 0)

    def switch_to_deploy(self) -> None:
        """Fold the BNs and conv branches into ``fc3`` (structural re-parameterisation)."""
        if self.deploy:
            return
        weight, bias = self.equivalent_fc3()
        for k in self.conv_kernels:
            delattr(self, f'repconv{k}')
        rows = weight.shape[0]
        self.fc3 = nn.Conv2d(rows, rows, 1, groups=self.sharesets, bias=True).to(weight)
        self.fc3.weight.data.copy_(weight)
        self.fc3.bias.data.copy_(bias)
        self.fc3_bn = nn.Identity()
        self.deploy = True


class RepMLPUnit(nn.Module):
    """RepMLPNet block: ``x + RepMLPBlock(BN(x))``, then ``x + FFN(BN(x))``.

    The FFN is 1x1 conv+BN, GELU, 1x1 conv+BN. The official model has no stochastic depth;
    ``drop_path > 0`` adds it on both residual branches.
    """

    def __init__(self, channels: int, partition_size: int, sharesets: int,
                 conv_kernels: Sequence[int], gp_reduction: int, ffn_ratio: int,
                 drop_path: float = 0., deploy: bool = False):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels)
        self.token_mixer = RepMLPBlock(channels, partition_size, sharesets, conv_kernels,
                                       gp_reduction, deploy)
        self.norm2 = nn.BatchNorm2d(channels)
        hidden = channels * ffn_ratio
        self.ffn = nn.Sequential(OrderedDict(fc1=conv_bn(channels, hidden, 1), act=nn.GELU(),
                                             fc2=conv_bn(hidden, channels, 1)))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.token_mixer(self.norm1(x)))
        return x + self.drop_path(self.ffn(self.norm2(x)))


@MODELS.register_module()
class RepMLPNet(VisionMLPBackbone):
    """RepMLPNet backbone.

    Archs ``T224``/``B224``/``T256``/``B256``/``D256``/``L256`` are the official
    ``create_RepMLPNet_*`` models (the number is the pretraining resolution; the partition size of
    each stage is its map size there); ``nano`` (native at 64x64) is a small arch for CPU demos
    and tests.

    Structure (as the official code): a 4x4 stride-4 conv+BN+ReLU stem; per stage a 2x2 stride-2
    conv+BN+ReLU (stages 1-3; the official ``embeds``), then :class:`RepMLPUnit` blocks. Any input
    size works: the stem and downsamplers zero-pad to a multiple of their stride and every
    :class:`RepMLPBlock` pads to its partition size and crops back (see there), so the official
    weights apply unchanged; at multiples of the pretraining size outputs equal the official
    model's, which accepts only those.

    Outputs (strides 4/8/16/32, channels ``arch['channels']``: T 64/128/256/512, B and L
    96/192/384/768, D 80/160/320/640): each stage's map before the next downsampling, through a
    BatchNorm ``norm{i}``. The official classifier normalises the final map with a BatchNorm
    (``head_norm``, our ``norm3``), then averages: use ``out_indices=-1`` with a
    ``GlobalAveragePooling`` neck (the classification configs do); ``gap_before_final_norm`` is
    not supported.

    Args:
        arch: an arch name or a dict with keys ``channels``, ``depths``, ``partition_sizes``,
            ``sharesets``.
        conv_kernels: kernel sizes of the local conv branches (official: 1 and 3).
        gp_reduction: channel reduction of the global perceptron (official: 4).
        ffn_ratio: hidden width of the FFN relative to the channels (official: 4).
        deploy: build the re-parameterised inference form (see :meth:`switch_to_deploy`).
        **kwargs: the :class:`VisionMLPBackbone` arguments.
    """
    first_conv = 'patch_embed.conv'
    arch_zoo = {
        't224': {'channels': [64, 128, 256, 512], 'depths': [2, 2, 6, 2],
                 'partition_sizes': [56, 28, 14, 7], 'sharesets': [1, 4, 16, 128]},
        'b224': {'channels': [96, 192, 384, 768], 'depths': [2, 2, 12, 2],
                 'partition_sizes': [56, 28, 14, 7], 'sharesets': [1, 4, 32, 128]},
        't256': {'channels': [64, 128, 256, 512], 'depths': [2, 2, 6, 2],
                 'partition_sizes': [64, 32, 16, 8], 'sharesets': [1, 4, 16, 128]},
        'b256': {'channels': [96, 192, 384, 768], 'depths': [2, 2, 12, 2],
                 'partition_sizes': [64, 32, 16, 8], 'sharesets': [1, 4, 32, 128]},
        'd256': {'channels': [80, 160, 320, 640], 'depths': [2, 2, 18, 2],
                 'partition_sizes': [64, 32, 16, 8], 'sharesets': [1, 4, 16, 128]},
        'l256': {'channels': [96, 192, 384, 768], 'depths': [2, 2, 18, 2],
                 'partition_sizes': [64, 32, 16, 8], 'sharesets': [1, 4, 32, 256]},
        'nano': {'channels': [32, 64, 128, 256], 'depths': [2, 2, 2, 2],
                 'partition_sizes': [16, 8, 4, 2], 'sharesets': [1, 4, 8, 16]},
    }

    def __init__(self, arch='b224', conv_kernels: Sequence[int] = (1, 3), gp_reduction: int = 4,
                 ffn_ratio: int = 4, deploy: bool = False, **kwargs):
        super().__init__(arch, **kwargs)
        self.deploy = deploy
        settings = self.arch_settings
        self.patch_embed = ConvEmbed(self.in_channels, self.channels[0], 4)
        self.stages = nn.ModuleList()
        for i, (channels, depth) in enumerate(zip(self.channels, self.depths)):
            downsample = ConvEmbed(self.channels[i - 1], channels, 2) if i > 0 else None
            blocks = [
                RepMLPUnit(channels, settings['partition_sizes'][i], settings['sharesets'][i],
                           conv_kernels, gp_reduction, ffn_ratio, self.drop_path_rates[i][j],
                           deploy) for j in range(depth)
            ]
            self.stages.append(VisionMLPStage(blocks, downsample, self.with_cp))
        self._add_out_norms(norm_layer=nn.BatchNorm2d)
        self._freeze_stages()

    @classmethod
    def window_sides(cls, arch_settings: dict):
        return list(arch_settings['partition_sizes'])

    @property
    def pretraining_size(self) -> int:
        """The partitions are the stage maps at the pretraining size (224 or 256)."""
        return self.pretraining_size_of(self.arch_settings)

    @classmethod
    def pretraining_size_of(cls, arch_settings: dict) -> int:
        return arch_settings['partition_sizes'][0] * 4

    def switch_to_deploy(self) -> None:
        """Locality injection: fold every block's conv branches and BNs into its partition FC.

        Outputs stay equal (eval mode); the state dict then matches ``deploy=True`` models.
        """
        for module in self.modules():
            if isinstance(module, RepMLPBlock):
                module.switch_to_deploy()
        self.deploy = True

    def _pretrained_mismatch_hint(self, state_dict) -> str:
        checkpoint_deploy = any(k.endswith('token_mixer.fc3.bias') for k in state_dict)
        if checkpoint_deploy == self.deploy:
            return ''
        if checkpoint_deploy:
            return ('. The checkpoint is re-parameterised (deploy form): set deploy=True in the '
                    'backbone config, or finetune from a training-time checkpoint')
        return ('. The checkpoint is training-time: set deploy=False, or convert it first with '
                'tools/model_converters/reparameterize.py')
