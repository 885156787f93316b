"""Layer-wise learning-rate decay for any backbone with ``get_layer_depth``.

mmdet's and mmseg's layer-decay constructors only recognise ConvNeXt by class name; this one asks
the backbone itself, so it serves every vmlp_mm backbone in classification, segmentation and
detection configs::

    optim_wrapper = dict(
        constructor='vmlp_mm.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.9, custom_keys={...}))

Parameters outside the backbone get the last layer's (undecayed) lr; ``custom_keys`` and the
default decay rules of mmengine's constructor still apply on top.
"""
from typing import List

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from ..registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``lr * layer_decay_rate ** (num_layers - 1 - layer_id)`` per backbone layer."""

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        if 'layer_decay_rate' not in paramwise_cfg:
            raise ValueError('LayerDecayOptimWrapperConstructor needs '
                             'paramwise_cfg.layer_decay_rate (e.g. 0.9)')
        self.layer_decay_rate = paramwise_cfg.pop('layer_decay_rate')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '', **kwargs):
        if prefix:  # the recursion below is started once, from the whole model
            return super().add_params(params, module, prefix, **kwargs)
        backbone = getattr(module, 'backbone', module)
        if not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(f'{type(backbone).__name__} has no get_layer_depth(); layer-wise lr '
                            'decay needs a vmlp_mm backbone (or one that defines it)')
        groups: List[dict] = []
        super().add_params(groups, module, prefix, **kwargs)
        names = {id(p): n for n, p in module.named_parameters()}
        prefix_of_backbone = 'backbone.' if backbone is not module else ''
        for group in groups:
            name = names[id(group['params'][0])]
            layer_id, num_layers = backbone.get_layer_depth(name, prefix_of_backbone)
            scale = self.layer_decay_rate**(num_layers - 1 - layer_id)
            group['lr'] = group.get('lr', self.base_lr) * scale
            params.append(group)
        print_log(f'layer-wise lr decay {self.layer_decay_rate} over '
                  f'{backbone.get_layer_depth("", "-")[1]} layers', logger='current')
