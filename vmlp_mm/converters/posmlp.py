"""Official PosMLP checkpoints (Zhicaiwww/PosMLP, timm trainer) -> vmlp_mm mmpretrain classifiers.

The timm checkpoints hold ``state_dict`` and ``state_dict_ema``; the official loader
(``filter_pretrain``) uses the EMA weights: extract them into their own file to convert them.
The ``rel_indices`` buffers are checked against the offsets the model recomputes, then dropped.
"""
import re
from typing import Dict, Tuple

import torch

from ..ops.positional_mix import relative_offsets
from .base import CheckpointMismatchError, match_arch, rename_keys

_BLOCK = r'^levels\.(\d+)\.encoder\.(\d+)\.'

RULES = [
    (r'^patch_embed\.projs\.(\d)\.(?=(weight|bias)$)',
     lambda m: f'backbone.patch_embed.conv{int(m[1]) + 1}.'),
    (r'^patch_embed\.norms\.(\d)\.',
     lambda m: f'backbone.patch_embed.bn{int(m[1]) + 1}.'),
    (r'^levels\.(\d+)\.pool\.(conv|norm)\.(?=(weight|bias)$)',
     r'backbone.stages.\1.downsample.\2.'),
    (_BLOCK + r'norm\.(?=(weight|bias)$)', r'backbone.stages.\1.blocks.\2.norm.'),
    (_BLOCK + r'proj_c_e\.(?=(weight|bias)$)', r'backbone.stages.\1.blocks.\2.fc1.'),
    (_BLOCK + r'proj_c_s\.(?=(weight|bias)$)', r'backbone.stages.\1.blocks.\2.fc2.'),
    (_BLOCK + r'gate_unit\.pos\.attention_centers$',
     r'backbone.stages.\1.blocks.\2.token_mixer.centers'),
    (_BLOCK + r'gate_unit\.pos\.attention_spreads$',
     r'backbone.stages.\1.blocks.\2.token_mixer.spreads'),
    (_BLOCK + r'gate_unit\.pos\.token_proj_n_bias$',
     r'backbone.stages.\1.blocks.\2.token_mixer.token_bias'),
    (r'^norm\.(?=(weight|bias)$)', 'backbone.norm3.'),  # LayerNorm of the final map
    (r'^head\.(?=(weight|bias)$)', 'head.fc.'),
]
_REL_INDICES = r'gate_unit\.pos\.rel_indices$'


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> str:
    """The PosMLP arch name, from channels, depths, MLP ratios, windows and groups."""
    from vmlp_mm.backbones import PosMLP
    if 'patch_embed.projs.0.weight' not in state_dict:
        raise CheckpointMismatchError('not a PosMLP checkpoint: no patch_embed.projs.0.weight')
    depths, channels, ratios, windows, groups = {}, {}, {}, {}, {}
    for key, value in state_dict.items():
        m = re.match(_BLOCK, key)
        if not m:
            continue
        stage, block = int(m[1]), int(m[2])
        depths[stage] = max(depths.get(stage, 0), block + 1)
        if block == 0 and key.endswith('proj_c_e.weight'):
            channels[stage] = value.shape[1]
            ratios[stage] = value.shape[0] // value.shape[1]
        if block == 0 and key.endswith('token_proj_n_bias'):
            windows[stage] = int(round(value.numel()**0.5))
        if block == 0 and key.endswith('attention_centers'):
            groups[stage] = value.shape[0]
    stages = sorted(depths)
    if not stages:
        raise CheckpointMismatchError('not a PosMLP checkpoint: no levels.<i>.encoder.<j> weights')
    found = {'channels': [channels.get(i) for i in stages], 'depths': [depths[i] for i in stages],
             'mlp_ratios': [ratios.get(i) for i in stages],
             'window_sizes': [windows.get(i) for i in stages],
             'groups': [groups.get(i) for i in stages]}
    return match_arch(PosMLP, found)


def convert(state_dict: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], str]:
    """Returns the converted state dict and the arch name."""
    arch = infer_arch(state_dict)
    for key, value in state_dict.items():
        if re.search(_REL_INDICES, key):
            side = int(round(value.shape[0]**0.5))
            expected = relative_offsets(side, side).permute(1, 2, 0)  # official: [N, N, 5]
            if value.shape != expected.shape or not torch.equal(value.float(), expected):
                raise CheckpointMismatchError(
                    f'{key} differs from the GQPE offsets (dx, dy, dx^2, dy^2, dx*dy): not a '
                    'quadratic, generalised PosMLP (the official T/S) checkpoint')
    converted = rename_keys(state_dict, RULES, ignore=[_REL_INDICES])
    for key in converted:
        if key.endswith('token_mixer.token_bias'):  # official [1, N, 1]
            converted[key] = converted[key].reshape(-1)
    return converted, arch
