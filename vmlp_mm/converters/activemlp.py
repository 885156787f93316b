"""Official ActiveMLP checkpoints (microsoft/ActiveMLP) -> vmlp_mm mmpretrain classifiers."""
import re
from typing import Dict, Tuple

import torch

from .base import CheckpointMismatchError, match_arch, rename_keys

_BLOCK_PARTS = r'(norm1|norm2|mlp\.fc1|mlp\.fc2|offset_layer\.0|offset_layer\.1|atm\.atm_c|' \
               r'atm\.atm_h|atm\.atm_w|atm\.fusion\.fc1|atm\.fusion\.fc2|atm\.proj)\.(weight|bias)$'

RULES = [
    (r'^patch_embed\.proj\.(?=(weight|bias)$)', 'backbone.patch_embed.proj.'),
    (r'^pos_blocks\.(\d+)\.proj\.(?=(weight|bias)$)', r'backbone.stages.\1.peg.proj.'),
    # the official downsampler sits in the last block of stage i; ours opens stage i + 1
    (r'^blocks\.(\d+)\.\d+\.downsample\.proj\.(?=(weight|bias)$)',
     lambda m: f'backbone.stages.{int(m[1]) + 1}.downsample.proj.'),
    (r'^blocks\.(\d+)\.(\d+)\.' + _BLOCK_PARTS, r'backbone.stages.\1.blocks.\2.\3.\4'),
    (r'^norm\.(?=(weight|bias)$)', 'backbone.norm3.'),  # LayerNorm of the final map
    (r'^head\.(?=(weight|bias)$)', 'head.fc.'),
]


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> str:
    """The ActiveMLP arch name of an official state dict, from channels, depths, MLP widths and
    where offsets are created."""
    from vmlp_mm.backbones import ActiveMLP
    if 'patch_embed.proj.weight' not in state_dict:
        raise CheckpointMismatchError('not an ActiveMLP checkpoint: no patch_embed.proj.weight')
    depths, channels, ratios, creators = {}, {}, {}, {}
    for key, value in state_dict.items():
        m = re.match(r'blocks\.(\d+)\.(\d+)\.', key)
        if not m:
            continue
        stage, block = int(m[1]), int(m[2])
        depths[stage] = max(depths.get(stage, 0), block + 1)
        if key.endswith('mlp.fc1.weight') and block == 0:
            channels[stage] = value.shape[1]
            ratios[stage] = value.shape[0] // value.shape[1]
        if key.endswith('offset_layer.1.weight'):
            creators.setdefault(stage, []).append(block)
    stages = sorted(depths)
    if not stages or 'blocks.0.0.offset_layer.1.weight' not in state_dict:
        raise CheckpointMismatchError('not an ActiveMLP checkpoint: no offset-creating '
                                      'blocks.<stage>.<block>.offset_layer weights')
    found = {'channels': [channels.get(i) for i in stages], 'depths': [depths[i] for i in stages],
             'mlp_ratios': [ratios.get(i) for i in stages]}
    # interval: the second offset-creating block of the deepest stage
    deepest = max(stages, key=lambda i: depths[i])
    found['interval'] = sorted(creators.get(deepest, [0]))[1] if len(
        creators.get(deepest, [])) > 1 else None
    if found['interval'] is None:
        del found['interval']
    return match_arch(ActiveMLP, found)


def convert(state_dict: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], str]:
    """Returns the converted state dict and the arch name."""
    arch = infer_arch(state_dict)
    return rename_keys(state_dict, RULES), arch
