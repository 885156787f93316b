"""Official RepMLPNet checkpoints (DingXiaoH/RepMLP) -> vmlp_mm mmpretrain classifiers.

Both forms the official repo saves are accepted: training-time weights (``fc3`` + ``fc3_bn`` +
``repconv*`` branches) and deploy-time weights after its ``convert.py`` / locality injection
(``fc3`` with a bias); the latter load into ``RepMLPNet(deploy=True)``.
"""
import math
import re
from typing import Dict, Tuple

import torch

from .base import CheckpointMismatchError, match_arch, rename_keys

_MIXER_PARTS = r'(gp\.fc[12]|fc3|fc3_bn|repconv\d+\.conv|repconv\d+\.bn)'
_TENSOR = r'(weight|bias|running_mean|running_var|num_batches_tracked)$'

RULES = [
    (r'^conv_embedding\.(conv|bn)\.(?=' + _TENSOR + ')', r'backbone.patch_embed.\1.'),
    # the official embeds[i] closes stage i; ours opens stage i + 1
    (r'^embeds\.(\d+)\.(conv|bn)\.(?=' + _TENSOR + ')',
     lambda m: f'backbone.stages.{int(m[1]) + 1}.downsample.{m[2]}.'),
    (r'^stages\.(\d+)\.(\d+)\.prebn([12])\.(?=' + _TENSOR + ')',
     r'backbone.stages.\1.blocks.\2.norm\3.'),
    (r'^stages\.(\d+)\.(\d+)\.repmlp_block\.' + _MIXER_PARTS + r'\.(?=' + _TENSOR + ')',
     r'backbone.stages.\1.blocks.\2.token_mixer.\3.'),
    (r'^stages\.(\d+)\.(\d+)\.ffn_block\.ffn_fc([12])\.(conv|bn)\.(?=' + _TENSOR + ')',
     r'backbone.stages.\1.blocks.\2.ffn.fc\3.\4.'),
    (r'^head_norm\.(?=' + _TENSOR + ')', 'backbone.norm3.'),  # BN of the final map
    (r'^head\.(?=(weight|bias)$)', 'head.fc.'),
]


def is_deploy(state_dict: Dict[str, torch.Tensor]) -> bool:
    """Whether the weights are the re-parameterised (locality-injected) form."""
    return any(re.search(r'repmlp_block\.fc3\.bias$', k) for k in state_dict)


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> str:
    """The RepMLPNet arch name of an official state dict, from channels, depths, partition sizes
    and sharesets (read off the ``fc3`` shapes)."""
    from vmlp_mm.backbones import RepMLPNet
    if 'conv_embedding.conv.weight' not in state_dict:
        raise CheckpointMismatchError('not a RepMLPNet checkpoint: no conv_embedding.conv.weight')
    depths, channels, partitions, sharesets = {}, {}, {}, {}
    for key, value in state_dict.items():
        m = re.match(r'stages\.(\d+)\.(\d+)\.', key)
        if not m:
            continue
        stage, block = int(m[1]), int(m[2])
        depths[stage] = max(depths.get(stage, 0), block + 1)
        if block == 0 and key.endswith('prebn1.weight'):
            channels[stage] = value.shape[0]
        if block == 0 and key.endswith('repmlp_block.fc3.weight'):
            area = value.shape[1]
            partitions[stage] = math.isqrt(area)
            sharesets[stage] = value.shape[0] // area
    stages = sorted(depths)
    if not stages or not partitions:
        raise CheckpointMismatchError('not a RepMLPNet checkpoint: no '
                                      'stages.<stage>.<block>.repmlp_block.fc3 weights')
    found = {'channels': [channels.get(i) for i in stages], 'depths': [depths[i] for i in stages],
             'partition_sizes': [partitions.get(i) for i in stages],
             'sharesets': [sharesets.get(i) for i in stages]}
    return match_arch(RepMLPNet, found)


def backbone_overrides(state_dict: Dict[str, torch.Tensor]) -> dict:
    """Backbone settings the converted weights need beyond the classification config's."""
    return {'deploy': True} if is_deploy(state_dict) else {}


def convert(state_dict: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], str]:
    """Returns the converted state dict and the arch name."""
    arch = infer_arch(state_dict)
    return rename_keys(state_dict, RULES), arch
