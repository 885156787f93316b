"""Shared machinery of the official-checkpoint converters.

A converter maps an official state dict onto an mmpretrain ``ImageClassifier`` state dict
(``backbone.*`` and ``head.fc.*``) with ordered regex rules. Every official key must be matched
by a rule and the result must fill the target model exactly (names and shapes): anything else is
an error listing the offending keys, never a partial checkpoint.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, Sequence, Tuple, Union

import torch

from ..utils.checkpoint import (  # noqa: F401
    CheckpointMismatchError,
    _preview,
    check_state_dict,
    load_checkpoint,
    weights_of,
)

Rule = Tuple[str, Union[str, Callable[[re.Match], str]]]


def load_official_state_dict(path: str, trust: bool = False) -> Dict[str, torch.Tensor]:
    """Read an official checkpoint: a raw state dict or one wrapped in ``model``/``state_dict``
    (``trust``: see :func:`vmlp_mm.utils.checkpoint.load_checkpoint`)."""
    return OrderedDict(weights_of(load_checkpoint(path, trust=trust)))


def rename_keys(state_dict: Dict[str, torch.Tensor], rules: Sequence[Rule],
                ignore: Sequence[str] = ()) -> 'OrderedDict[str, torch.Tensor]':
    """Apply the first matching rule to every key; keys matching ``ignore`` are dropped."""
    converted, unmatched = OrderedDict(), []
    for key, value in state_dict.items():
        if any(re.search(pattern, key) for pattern in ignore):
            continue
        for pattern, replacement in rules:
            new_key, count = re.subn(pattern, replacement, key, count=1)
            if count:
                converted[new_key] = value
                break
        else:
            unmatched.append(key)
    if unmatched:
        raise CheckpointMismatchError(
            f'{len(unmatched)} keys of the checkpoint match no conversion rule (is it a checkpoint '
            f'of this model?): {_preview(unmatched)}')
    return converted


def match_arch(backbone: type, found: dict) -> str:
    """The canonical arch of ``backbone`` whose settings include ``found`` (e.g. channels and
    depths read off a checkpoint)."""
    for name, settings in backbone.arch_zoo.items():
        if all(settings.get(k) == v for k, v in found.items()):
            return name
    raise CheckpointMismatchError(
        f'no {backbone.__name__} arch has {found}; known: '
        + ', '.join(f'{n} {[s.get(k) for k in found]}' for n, s in backbone.arch_zoo.items()))
