"""Behaviour shared by the vmlp_mm backbones: arch parsing, outputs, freezing, layer depth."""
import copy
import logging
import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..ops import FX_LEAVES as OP_FX_LEAVES
from ..utils.checkpoint import (
    CheckpointMismatchError,
    load_checkpoint,
    state_dict_problems,
    weights_of,
)
from .layers import LayerNorm2d, pad_to_multiple


# a leaf of fx graphs wherever it is called (forward_stages runs outside any module's __call__,
# where timm's registered leaves are patched in)
@torch.fx.wrap
def checked_input(x: torch.Tensor, model: str, in_channels: int, min_size: int) -> torch.Tensor:
    """``x``, if it is a batch of images a backbone can take; otherwise a ValueError naming the
    fix."""
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f'{model} expects [N, {in_channels}, H, W] images, got shape {tuple(x.shape)}; set '
            f'in_channels={x.shape[1] if x.dim() == 4 else "?"} in the backbone config (and the '
            'data preprocessor mean/std) if your data has that many channels')
    if min(x.shape[2:]) < min_size:
        raise ValueError(
            f'{model} needs inputs of at least {min_size}x{min_size} pixels, got '
            f'{x.shape[2]}x{x.shape[3]}; resize or pad the images (e.g. a Resize or Pad step in '
            'the pipeline)')
    return x


def run_block(block: nn.Module, x: torch.Tensor, *args, with_cp: bool = False) -> torch.Tensor:
    """``block(x, *args)``, with its activations recomputed in backward when ``with_cp``.

    timm's ``checkpoint_seq`` is the model, but it takes blocks of one input; PosMLP's blocks
    also take their window grid and ActiveMLP's their offsets, so the extra arguments pass
    through here.
    """
    if with_cp and x.requires_grad:
        return cp.checkpoint(block, x, *args, use_reentrant=False)
    return block(x, *args)


class VisionMLPStage(nn.Module):
    """One stage: an optional downsampler, then its blocks.

    Downsampling opens the stage (rather than closing the previous one, as in Swin-style code),
    so a stage's output is the pre-downsample feature map that dense heads take. What differs
    between models lives in :meth:`forward_blocks` (PosMLP cuts windows once per stage, ActiveMLP
    shares offsets between blocks); the block runner is :func:`run_block`.

    Args:
        blocks: the stage's blocks, applied in order.
        downsample: the module halving the resolution before the blocks, or None.
        with_cp: checkpoint each block's activations during training to save memory.
    """

    def __init__(self, blocks: Sequence[nn.Module], downsample: Optional[nn.Module] = None,
                 with_cp: bool = False):
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.ModuleList(blocks)
        self.with_cp = with_cp

    def forward_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """The blocks on the (downsampled) ``[N, C, H, W]`` map."""
        for block in self.blocks:
            x = run_block(block, x, with_cp=self.with_cp)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample is not None:
            x = self.downsample(x)
        return self.forward_blocks(x)


class VisionMLPBackbone(BaseModule):
    """Base class of the backbones (the backbone contract of docs/design.md).

    Subclasses define ``arch_zoo`` (canonical arch name -> settings dict with at least
    ``channels`` and ``depths``) and ``arch_aliases``, build ``self.patch_embed`` and
    ``self.stages`` (a ``ModuleList`` of :class:`VisionMLPStage`) and then call
    :meth:`_add_out_norms` and :meth:`_freeze_stages`.
    A model whose stages exchange more than the map (Strip-MLP's cross-stage skips) overrides
    :meth:`_stage_input`; one whose official classifier pools before its final norm says so
    with ``pool_before_norm``.

    Args:
        arch: a name of ``arch_zoo`` or a dict with the same keys.
        in_channels: channels of the input image.
        out_indices: stages whose outputs are returned (int or sequence, negatives allowed).
        frozen_stages: freeze the stem (0) and stages ``< frozen_stages`` with their out norms;
            -1 freezes nothing.
        norm_eval: keep BatchNorm layers in eval mode during training.
        with_cp: activation checkpointing in every block.
        drop_path_rate: stochastic depth at the last block (linear from 0 over all blocks).
        gap_before_final_norm: global-average-pool each output, then its norm, returning
            ``[N, C]`` vectors; otherwise outputs are normalised maps. Default: the class's
            ``pool_before_norm`` (the official classifier's order).
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')``.
    """
    #: canonical arch name -> settings; the names the converters, timm and the configs use
    arch_zoo: Dict[str, dict] = {}
    #: other accepted spellings (e.g. the papers' 'T' for 'tiny') -> canonical name
    arch_aliases: Dict[str, str] = {}
    #: input size the official weights were trained at (RepMLPNet's depends on the arch)
    pretraining_size: int = 224
    #: smallest input side the model can take (e.g. a stem kernel larger than its padding)
    min_input_size: int = 1
    #: the official classifier's order: pool, then the final norm (True), or norm the final
    #: map, then pool in the neck (False); the default of ``gap_before_final_norm``
    pool_before_norm: bool = False
    #: functions and modules that turn tensor shapes into Python control flow (padding, window
    #: grids): leaves of timm's fx graphs (:mod:`vmlp_mm.timm_models` registers them)
    fx_leaves: tuple = (checked_input, pad_to_multiple, *OP_FX_LEAVES)
    #: the stem's first convolution (timm's ``first_conv``: adapted to other ``in_chans``)
    first_conv: str = 'patch_embed.proj'
    #: parameter-name parts the official recipe trains without weight decay (besides biases and
    #: norms): timm's ``no_weight_decay``
    no_weight_decay_keys: Tuple[str, ...] = ()

    def __init__(self,
                 arch: Union[str, dict],
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.,
                 gap_before_final_norm: Optional[bool] = None,
                 init_cfg: Optional[Union[dict, list]] = None):
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        self.channels = list(self.arch_settings['channels'])
        self.depths = list(self.arch_settings['depths'])
        self.num_stages = len(self.depths)
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'in_channels must be a positive int, got {in_channels!r}')
        self.in_channels = in_channels
        self.out_indices = self._parse_out_indices(out_indices)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {self.num_stages}], '
                             f'got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.gap_before_final_norm = (self.pool_before_norm if gap_before_final_norm is None
                                      else gap_before_final_norm)
        if not isinstance(drop_path_rate, (int, float)) or not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate must be in [0, 1) (the drop probability of the last '
                             f'block), got {drop_path_rate!r}')
        total = sum(self.depths)
        rates = torch.linspace(0, drop_path_rate, total).tolist()
        starts = [sum(self.depths[:i]) for i in range(self.num_stages)]
        # drop path rate of every block, per stage
        self.drop_path_rates = [rates[s:s + d] for s, d in zip(starts, self.depths)]

    @classmethod
    def pretraining_size_of(cls, arch_settings: dict) -> int:
        """The input size the official weights of an arch were trained at."""
        return cls.pretraining_size

    @classmethod
    def window_sides(cls, arch_settings: dict) -> List[int]:
        """Per stage of an arch, the side of the windows (partitions, strips) its map is cut
        into; 1 where the stage mixes over the whole map. Sizes that are no multiple of it take
        the ragged or padded paths, which the input-size tests sweep."""
        return [1] * len(arch_settings['depths'])

    # -- construction helpers -------------------------------------------------------------------
    @classmethod
    def canonical_arch(cls, arch: str) -> str:
        """The ``arch_zoo`` name of ``arch``: a name or an alias, in any case."""
        names = {name.lower(): name for name in cls.arch_zoo}
        names.update({alias.lower(): name for alias, name in cls.arch_aliases.items()})
        if arch.lower() not in names:
            aliases = ''.join(f', {a}={n}' for a, n in cls.arch_aliases.items())
            raise ValueError(f'Unknown arch {arch!r} for {cls.__name__}; choose one of '
                             f'{list(cls.arch_zoo)} (aliases{aliases or " none"}) or pass a dict '
                             'of settings')
        return names[arch.lower()]

    def _parse_arch(self, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            return copy.deepcopy(self.arch_zoo[self.canonical_arch(arch)])
        if isinstance(arch, dict):
            required = set().union(*(s.keys() for s in self.arch_zoo.values()))
            missing = sorted(required - set(arch))
            unknown = sorted(set(arch) - required)
            if missing or unknown:
                raise ValueError(f'Custom arch for {type(self).__name__}: missing keys {missing}, '
                                 f'unknown keys {unknown}; expected keys {sorted(required)}')
            return copy.deepcopy(arch)
        raise ValueError(f'arch must be a str or dict, got {type(arch).__name__}')

    def _parse_out_indices(self, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if not isinstance(out_indices, Sequence) or not out_indices:
            raise ValueError(f'out_indices must be an int or a non-empty sequence of ints, '
                             f'got {out_indices!r}')
        parsed = []
        for index in out_indices:
            if not isinstance(index, int) or not -self.num_stages <= index < self.num_stages:
                raise ValueError(f'out_indices entry {index!r} is out of range for '
                                 f'{self.num_stages} stages (use 0..{self.num_stages - 1} or '
                                 f'negatives)')
            if index % self.num_stages in parsed:
                raise ValueError(f'out_indices {tuple(out_indices)} name stage '
                                 f'{index % self.num_stages} twice; list each stage once')
            parsed.append(index % self.num_stages)
        return tuple(sorted(parsed))

    def _add_out_norms(self, eps: float = 1e-6,
                       norm_layer: Optional[Callable[[int], nn.Module]] = None) -> None:
        """``norm{i}`` for every output: ``norm_layer(channels)``, by default a LayerNorm over
        channels with ``eps``."""
        for i in self.out_indices:
            norm = norm_layer(self.channels[i]) if norm_layer else LayerNorm2d(self.channels[i],
                                                                               eps=eps)
            if self.gap_before_final_norm and isinstance(norm, _BatchNorm):
                raise ValueError(
                    f'{type(self).__name__} normalises its maps with {type(norm).__name__} before '
                    'pooling (the official order); use gap_before_final_norm=False with a '
                    'GlobalAveragePooling neck')
            self.add_module(f'norm{i}', norm)

    # -- forward ---------------------------------------------------------------------------------
    def _output(self, index: int, x: torch.Tensor) -> torch.Tensor:
        norm = getattr(self, f'norm{index}')
        if self.gap_before_final_norm:
            return norm(x.mean((2, 3)))
        # contiguous NCHW: downstream CPU kernels such as mmcv's RoIAlign read raw NCHW memory
        # and silently give wrong results for channels-last strides
        return norm(x).contiguous()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Returns the outputs of ``out_indices``: ``[N, C_i]`` vectors when
        ``gap_before_final_norm``, else ``[N, C_i, ceil(H / s_i), ceil(W / s_i)]`` maps at
        strides 4, 8, 16, 32."""
        maps = self.forward_stages(x)
        return tuple(self._output(i, maps[i]) for i in self.out_indices)

    def forward_stages(self, x: torch.Tensor, last: Optional[int] = None) -> List[torch.Tensor]:
        """The ``[N, C_i, H_i, W_i]`` map of every stage up to ``last`` (default: all), before
        the output norms: what the outputs and timm's ``forward_intermediates`` are made of."""
        x = checked_input(x, type(self).__name__, self.in_channels, self.min_input_size)
        x = self.patch_embed(x)
        maps, carried = [], {}
        stages = self.stages if last is None else self.stages[:last + 1]
        for i, stage in enumerate(stages):
            if stage.downsample is not None:
                x = stage.downsample(x)
            x = stage.forward_blocks(self._stage_input(i, x, carried))
            maps.append(x)
        return maps

    def _stage_input(self, index: int, x: torch.Tensor, carried: dict) -> torch.Tensor:
        """The input of stage ``index``'s blocks, given its downsampled map ``x``; ``carried``
        holds what earlier stages left for later ones in this forward pass (nothing here)."""
        return x

    # -- initialisation ----------------------------------------------------------------------------
    def init_weights(self) -> None:
        """mmengine's initialisation, except that ``init_cfg=dict(type='Pretrained', ...)`` loads
        strictly, and ``missing_ok=True`` in it (the demo configs) starts from random weights
        with a notice when the checkpoint file does not exist.

        mmengine loads pretrained weights with ``strict=False`` and only warns, so a checkpoint
        of another arch or form leaves a partly random backbone that trains without complaint.
        Here any missing or unexpected key or shape mismatch raises an error listing them. Only
        the output norms ``norm{i}`` may be absent on either side: a classifier has just the
        last one, and dense outputs add the others (initialised fresh, and logged).
        """
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        checkpoint, prefix = cfg['checkpoint'], cfg.get('prefix') or ''
        if cfg.get('missing_ok') and '://' not in checkpoint and not osp.exists(checkpoint):
            print_log(f'{checkpoint} does not exist: {type(self).__name__} starts from random '
                      'weights (init_cfg.missing_ok; tools/run_demo.py trains the classifier '
                      'first)', logger='current', level=logging.WARNING)
            self.init_cfg = None
            super().init_weights()
            return
        if prefix and not prefix.endswith('.'):
            prefix += '.'
        print_log(f'load {prefix or "model"} in model from: {checkpoint}', logger='current')
        loaded = weights_of(load_checkpoint(checkpoint, cfg.get('map_location', 'cpu')))
        if prefix == 'backbone.':
            loaded = self._from_official_layout(loaded, checkpoint)
        state_dict = {k[len(prefix):]: v for k, v in loaded.items() if k.startswith(prefix)}
        if not state_dict:
            raise CheckpointMismatchError(
                f'{checkpoint} has no keys starting with {prefix!r} (init_cfg.prefix); its keys '
                f'start with {sorted({k.split(".")[0] + "." for k in loaded})}')
        is_out_norm = re.compile(r'norm\d+\.').match
        expected = self.state_dict()
        problems = state_dict_problems(
            {k: v for k, v in state_dict.items() if not is_out_norm(k) or k in expected},
            {k: v for k, v in expected.items() if not is_out_norm(k) or k in state_dict})
        if problems:
            raise CheckpointMismatchError(
                f'{checkpoint} does not fit {type(self).__name__}(arch={self.arch_settings}): '
                + '; '.join(problems) + self._pretrained_mismatch_hint(state_dict))
        self.load_state_dict(state_dict, strict=False)
        fresh = sorted({k.split('.')[0] for k in expected if k not in state_dict})
        if fresh:
            print_log(f'not in the checkpoint, initialised fresh: {", ".join(fresh)}',
                      logger='current')
        self._is_init = True

    def _from_official_layout(self, loaded: Dict[str, torch.Tensor],
                              checkpoint: str) -> Dict[str, torch.Tensor]:
        """An authors' checkpoint (no ``backbone.*`` keys) converted in memory, as the converter
        script would write it; other state dicts unchanged."""
        from ..families import convert_official_for, is_official_layout
        if not is_official_layout(loaded):
            return loaded
        converted = convert_official_for(self, loaded)
        print_log(f'{checkpoint} has the official {type(self).__name__} key layout: converted in '
                  'memory (tools/model_converters/ writes the converted file once)',
                  logger='current')
        return converted

    def _pretrained_mismatch_hint(self, state_dict: Dict[str, torch.Tensor]) -> str:
        """A model-specific hint appended to a pretrained-checkpoint mismatch error."""
        return ''

    # -- training behaviour ------------------------------------------------------------------------
    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed] + [self.stages[i] for i in range(self.frozen_stages)]
        frozen += [getattr(self, f'norm{i}') for i in range(self.frozen_stages)
                   if i in self.out_indices]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer id of a parameter for layer-wise lr decay, and the number of layers.

        The stem is layer 0, block k (counted over all stages) is layer k + 1, a downsampler
        shares the layer of the first block it feeds, and the output norms and anything outside
        the backbone (necks, heads) come last.
        """
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith('patch_embed'):
            return 0, num_layers
        if name.startswith('stages.'):
            parts = name.split('.')
            stage = int(parts[1])
            first = sum(self.depths[:stage]) + 1
            if parts[2] == 'blocks':
                return first + int(parts[3]), num_layers
            return first, num_layers
        return num_layers - 1, num_layers
