"""The official classifier of every backbone, with timm's model interface.

A backbone in its classification setting -- pooled and normalised in the official order -- and a
linear head, with mmpretrain's parameter names (``backbone.*``, ``head.fc.*``): the converters'
target, timm's ``vmlp_*`` models (:mod:`vmlp_mm.timm_models`) and what ``tools/train.py``'s
classification checkpoints hold.

timm's contract, as its hierarchical models (ConvNeXt) define it: ``num_features``,
``head_hidden_size``, ``feature_info``, ``forward_features`` (the unpooled ``[N, C, H/32, W/32]``
map), ``forward_head(x, pre_logits)``, ``reset_classifier(num_classes, global_pool)``,
``forward_intermediates``, ``prune_intermediate_layers``, ``set_grad_checkpointing``,
``group_matcher`` and ``no_weight_decay``.
"""
from typing import Callable, List, Optional, Set, Tuple, Union

import torch
import torch.nn as nn

from .backbones.base import VisionMLPBackbone


def feature_take_indices(num_stages: int, indices) -> Tuple[List[int], int]:
    """timm's reading of ``indices`` (imported here: ``import vmlp_mm`` does not import timm)."""
    from timm.models._features import feature_take_indices as take
    return take(num_stages, indices)

GLOBAL_POOLS = ('avg', '')


class VisionMLPClassifier(nn.Module):
    """A backbone and a linear head, in the official model's order of pooling and final norm.

    Where the official model normalises the last map and then pools (ActiveMLP, PosMLP,
    Strip-MLP, RepMLPNet), ``forward_features`` returns the normalised map; where it pools first
    (MS-MLP: ``backbone.pool_before_norm``), it returns the map before the norm and
    ``forward_head`` pools, then normalises. With ``global_pool=''`` such a head normalises every
    position instead (the dense setting's order).

    Args:
        backbone: a vmlp_mm backbone whose ``out_indices`` include its last stage.
        num_classes: classes of the linear head; 0 for none (``forward`` gives the pooled
            features).
        global_pool: ``'avg'`` or ``''`` (no pooling: ``forward`` gives per-position logits
            ``[N, num_classes, H/32, W/32]``, or features with ``num_classes=0``).
        drop_rate: dropout before the linear head.
    """

    def __init__(self, backbone: VisionMLPBackbone, num_classes: int = 1000,
                 global_pool: str = 'avg', drop_rate: float = 0.):
        super().__init__()
        last = backbone.num_stages - 1
        if last not in backbone.out_indices:
            raise ValueError(f'the classifier needs the last stage ({last}) in the backbone\'s '
                             f'out_indices, got {backbone.out_indices}')
        self.backbone = backbone
        self.num_classes = num_classes
        self.num_features = self.head_hidden_size = backbone.channels[-1]
        self.drop_rate = drop_rate
        self.feature_info = [dict(num_chs=c, reduction=4 * 2**i, module=f'backbone.stages.{i}')
                             for i, c in enumerate(backbone.channels)]
        self.head = nn.Module()
        self.head.drop = nn.Dropout(drop_rate)
        self.reset_classifier(num_classes, global_pool)

    # -- head ------------------------------------------------------------------------------------
    def stage_norm(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """``x`` through stage ``index``'s output norm, where the backbone has one (every stage in
        the dense setting, the last in the classification setting, none after pruning)."""
        norm = getattr(self.backbone, f'norm{index}', None)
        return x if norm is None else norm(x)

    def final_norm(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` through the last kept stage's norm."""
        return self.stage_norm(len(self.backbone.stages) - 1, x)

    @property
    def pool_before_norm(self) -> bool:
        return self.backbone.gap_before_final_norm

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """torch's, refusing non-finite weights and taking the authors' files as published
        (converted in memory), with vmlp_mm's messages: timm's ``create_model(checkpoint_path=)``
        and ``timm.models.load_checkpoint`` end here."""
        from .families import convert_official_for, is_official_layout
        from .utils.checkpoint import check_finite, strip_wrapper_prefixes
        state_dict = strip_wrapper_prefixes(dict(state_dict))
        check_finite(state_dict, 'the state dict')
        if is_official_layout(state_dict):
            state_dict = convert_official_for(self.backbone, state_dict)
        return super().load_state_dict(state_dict, strict, assign)

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        if global_pool is not None:
            if global_pool not in GLOBAL_POOLS:
                raise ValueError(f'global_pool must be one of {GLOBAL_POOLS}, got {global_pool!r}')
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        if num_classes:
            nn.init.trunc_normal_(self.head.fc.weight, std=.02)
            nn.init.zeros_(self.head.fc.bias)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling (``global_pool``), the final norm where the official model pools first,
        dropout and the linear head; ``pre_logits`` stops before the head."""
        if self.global_pool == 'avg':
            x = x.mean((2, 3))
        if self.pool_before_norm:
            x = self.final_norm(x)
        x = self.head.drop(x)
        if pre_logits:
            return x
        if not self.global_pool:  # no pooling: the head applies at every position
            return self.head.fc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.head.fc(x)

    # -- features --------------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The unpooled last map ``[N, C, H/32, W/32]``, normalised unless the official model
        pools before its final norm."""
        x = self.backbone.forward_stages(x)[-1]
        return x if self.pool_before_norm else self.final_norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """The stage maps of ``indices`` (the last n stages for an int, all for None), and the
        final features unless ``intermediates_only``.

        Args:
            x: input images.
            indices: stages to return.
            norm: apply a stage's output norm where the backbone has one (every stage when built
                with ``out_indices=(0, 1, 2, 3)``: the dense setting; else the last).
            stop_early: run no stage after the last one asked for.
            output_fmt: 'NCHW' only.
            intermediates_only: return only the intermediates.
        """
        if output_fmt != 'NCHW':
            raise ValueError(f"output_fmt must be 'NCHW', got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.backbone.stages), indices)
        last = len(self.backbone.stages) - 1
        maps = self.backbone.forward_stages(x, max_index if stop_early or intermediates_only
                                            else None)
        # contiguous NCHW, as the backbone's dense outputs (Strip-MLP runs channels-last)
        intermediates = [(self.stage_norm(i, maps[i]) if norm else maps[i]).contiguous()
                         for i in take_indices]
        if intermediates_only:
            return intermediates
        x = maps[-1]
        if len(maps) == last + 1 and not self.pool_before_norm:
            x = self.final_norm(x)
        return x, intermediates

    def prune_intermediate_layers(self, indices: Union[int, List[int]] = 1,
                                  prune_norm: bool = False, prune_head: bool = True) -> List[int]:
        """Drop the stages after the last of ``indices`` (and their norms), and the head; returns
        the stage indices kept."""
        take_indices, max_index = feature_take_indices(len(self.backbone.stages), indices)
        backbone = self.backbone
        backbone.stages = backbone.stages[:max_index + 1]
        for i in range(max_index + 1, backbone.num_stages):
            if hasattr(backbone, f'norm{i}'):
                delattr(backbone, f'norm{i}')
        if prune_norm and hasattr(backbone, f'norm{max_index}'):
            delattr(backbone, f'norm{max_index}')
        self.num_features = self.head_hidden_size = backbone.channels[max_index]
        if prune_head or max_index < backbone.num_stages - 1:
            self.reset_classifier(0, '')
        return take_indices

    def __prepare_scriptable__(self):
        raise RuntimeError(
            f'{type(self.backbone).__name__} cannot be compiled by torch.jit.script: its stages '
            'read input shapes into Python (padding, window grids), pass non-tensor values '
            "between blocks, and its ops dispatch through torch.library. Use torch.export (or "
            'torch.compile) instead; both take every vmlp_mm model.')

    # -- training --------------------------------------------------------------------------------
    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.backbone.with_cp = enable
        for stage in self.backbone.stages:
            stage.with_cp = enable

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Callable[[str], Tuple[int]]:
        """Parameter groups for timm's layer-wise lr decay: the stem, then every block (every
        stage when ``coarse``), then the norms and the head, as the backbone's
        ``get_layer_depth`` numbers them for mmpretrain's decay (one numbering for both)."""
        backbone = self.backbone
        firsts = [sum(backbone.depths[:i]) + 1 for i in range(backbone.num_stages)]

        def group_of(name: str) -> Tuple[int]:
            layer, num_layers = backbone.get_layer_depth(name, 'backbone.')
            if coarse and 0 < layer < num_layers - 1:
                layer = max(i + 1 for i, first in enumerate(firsts) if layer >= first)
            elif coarse and layer == num_layers - 1:
                layer = backbone.num_stages + 1
            return (layer, )

        return group_of

    @torch.jit.ignore
    def no_weight_decay(self) -> Set[str]:
        """Parameters the official recipe trains without weight decay beyond timm's defaults
        (biases and other 1-d parameters): the backbone's ``no_weight_decay_keys``."""
        keys = self.backbone.no_weight_decay_keys
        return {name for name, _ in self.named_parameters() if any(k in name for k in keys)}

    @classmethod
    def from_timm_kwargs(cls, family, arch: str, num_classes: int = 1000, in_chans: int = 3,
                         global_pool: str = 'avg', drop_rate: float = 0.,
                         drop_path_rate: float = 0., dense_outputs: bool = False,
                         **backbone_kwargs) -> 'VisionMLPClassifier':
        """The classifier from timm's creation arguments (the rest go to the backbone);
        ``dense_outputs`` gives every stage its output norm, as the dense configs' backbones
        (``features_only``)."""
        if dense_outputs:
            backbone_kwargs.update(out_indices=tuple(range(len(family.backbone.arch_zoo[arch][
                'depths']))), gap_before_final_norm=False)
        return cls.of_family(family, arch, num_classes, global_pool, drop_rate,
                             in_channels=in_chans, drop_path_rate=drop_path_rate,
                             **backbone_kwargs)

    @classmethod
    def of_family(cls, family, arch: str, num_classes: int = 1000, global_pool: str = 'avg',
                  drop_rate: float = 0., **backbone_kwargs) -> 'VisionMLPClassifier':
        """The official classifier of ``family``'s ``arch`` (backbone settings in kwargs)."""
        backbone_kwargs.setdefault('out_indices', -1)
        return cls(family.backbone(arch, **backbone_kwargs), num_classes, global_pool, drop_rate)
