"""Official MS-MLP checkpoints (JegZheng/MS-MLP) -> vmlp_mm mmpretrain classifiers."""
import re
from typing import Dict, Tuple

import torch

from .base import CheckpointMismatchError, match_arch, rename_keys

RULES = [
    (r'^patch_embed\.(proj|norm)\.', r'backbone.patch_embed.\1.'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.(dwconv_lr|dwconv_td)\.',
     r'backbone.stages.\1.blocks.\2.token_mixer.\3.'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.(gamma$|norm\.|pwconv1\.|pwconv2\.)',
     r'backbone.stages.\1.blocks.\2.\3'),
    # official downsamplers close stage i; ours open stage i + 1
    (r'^layers\.(\d+)\.downsample\.(?=(proj|norm)\.)',
     lambda m: f'backbone.stages.{int(m[1]) + 1}.downsample.'),
    (r'^norm\.(?=(weight|bias)$)', 'backbone.norm3.'),  # LayerNorm of the pooled features
    (r'^head\.(?=(weight|bias)$)', 'head.fc.'),
]


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> str:
    """The MSMLP arch name of an official state dict, from its channels and depths."""
    from vmlp_mm.backbones import MSMLP
    if 'patch_embed.proj.weight' not in state_dict:
        raise CheckpointMismatchError('not an MS-MLP checkpoint: no patch_embed.proj.weight')
    depths = {}
    for key in state_dict:
        m = re.match(r'layers\.(\d+)\.blocks\.(\d+)\.', key)
        if m:
            depths[int(m[1])] = max(depths.get(int(m[1]), 0), int(m[2]) + 1)
    found = {
        'channels': [state_dict['patch_embed.proj.weight'].shape[0] * 2**i
                     for i in range(len(depths))],
        'depths': [depths[i] for i in sorted(depths)],
    }
    return match_arch(MSMLP, found)


def convert(state_dict: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], str]:
    """Returns the converted state dict and the arch name."""
    arch = infer_arch(state_dict)
    return rename_keys(state_dict, RULES), arch
