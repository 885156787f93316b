"""Official Strip-MLP checkpoints (Med-Process/Strip_MLP) -> vmlp_mm mmpretrain classifiers."""
import re
from typing import Dict, Tuple

import torch

from .base import CheckpointMismatchError, match_arch, rename_keys

_BLOCK = r'^blocks([1-4])\.(\d+)\.'
_MIXER = _BLOCK + r'token_mixing\.smlp_block\.'


def _stage(m: re.Match) -> str:
    return f'backbone.stages.{int(m[1]) - 1}.blocks.{m[2]}.'


RULES = [
    (r'^patch_embed\.(?=weight$)', 'backbone.patch_embed.conv.'),
    (r'^merging([1-3])\.(?=weight$)', r'backbone.stages.\1.downsample.conv.'),
    (r'^conv_s1_28\.(?=weight$)', 'backbone.skip_1to2.conv.'),
    (r'^conv_s1_14\.(?=weight$)', 'backbone.skip_1to3.conv.'),
    (r'^conv_s2_14\.(?=weight$)', 'backbone.skip_2to3.conv.'),
    (_BLOCK + r'token_mixing\.dwsc\.conv_merge\.BN\.', lambda m: _stage(m) + 'pre_bn.'),
    (_BLOCK + r'token_mixing\.dwsc\.conv_merge\.Conv\.', lambda m: _stage(m) + 'dwconv.'),
    (_MIXER + r'BN\.', lambda m: _stage(m) + 'token_mixer.bn.'),
    # the official names are swapped: fc_h is the (3, 7) conv, fc_w the (7, 3) one
    (_MIXER + r'fc_h\.', lambda m: _stage(m) + 'token_mixer.conv_3x7.'),
    (_MIXER + r'fc_w\.', lambda m: _stage(m) + 'token_mixer.conv_7x3.'),
    (_MIXER + r'relate_pos_([hw])\.', lambda m: _stage(m) + f'token_mixer.pos_{m[3]}.'),
    (_MIXER + r'(mlp\.[01]|proj_[hw]|fuse_[hw]|fuse|reweight\.fc[12])\.',
     lambda m: _stage(m) + f'token_mixer.{m[3]}.'),
    (_BLOCK + r'channel_mixing\.conv_77\.', lambda m: _stage(m) + 'conv_7x7.'),
    (_BLOCK + r'channel_mixing\.layer_norm\.', lambda m: _stage(m) + 'norm.'),
    (_BLOCK + r'channel_mixing\.(fc[12]|grn)\.', lambda m: _stage(m) + f'{m[3]}.'),
    (r'^norm\.', 'backbone.norm3.'),  # BatchNorm of the final map
    (r'^head\.(?=(weight|bias)$)', 'head.fc.'),
]


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> str:
    """The Strip-MLP arch name, from channels, depths, strip sizes and groups."""
    from vmlp_mm.backbones import StripMLP
    if 'patch_embed.weight' not in state_dict or 'merging1.weight' not in state_dict:
        raise CheckpointMismatchError('not a Strip-MLP checkpoint: no patch_embed/merging1')
    depths, channels, sizes, groups = {}, {}, {}, {}
    for key, value in state_dict.items():
        m = re.match(_BLOCK, key)
        if not m:
            continue
        stage, block = int(m[1]) - 1, int(m[2])
        depths[stage] = max(depths.get(stage, 0), block + 1)
        if block == 0 and key.endswith('channel_mixing.layer_norm.weight'):
            channels[stage] = value.shape[0]
        if block == 0 and key.endswith('smlp_block.proj_h.weight'):
            sizes[stage] = value.shape[1]
            groups[stage] = value.shape[0] // value.shape[1]
    stages = sorted(depths)
    found = {'channels': [channels.get(i) for i in stages], 'depths': [depths[i] for i in stages],
             'strip_sizes': [sizes.get(i) for i in stages],
             'strip_groups': [groups.get(i) for i in stages]}
    return match_arch(StripMLP, found)


def convert(state_dict: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], str]:
    """Returns the converted state dict and the arch name."""
    arch = infer_arch(state_dict)
    converted = rename_keys(state_dict, RULES)
    for key in converted:
        if re.search(r'\.grn\.(gamma|beta)$', key):  # official [1, 1, 1, C]
            converted[key] = converted[key].reshape(-1)
    return converted, arch
