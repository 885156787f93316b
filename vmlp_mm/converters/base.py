"""Shared machinery of the official-checkpoint converters.

A converter maps an official state dict onto an mmpretrain ``ImageClassifier`` state dict
(``backbone.*`` and ``head.fc.*``) with ordered regex rules. Every official key must be matched
by a rule and the result must fill the target model exactly (names and shapes): anything else is
an error listing the offending keys, never a partial checkpoint.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Sequence, Tuple, Union

import torch

Rule = Tuple[str, Union[str, Callable[[re.Match], str]]]


class CheckpointMismatchError(ValueError):
    """An official checkpoint does not match what a converter or model expects."""


def load_official_state_dict(path: str, trust: bool = False) -> Dict[str, torch.Tensor]:
    """Read an official checkpoint: a raw state dict or one wrapped in ``model``/``state_dict``.

    Args:
        path: the ``.pth`` file.
        trust: unpickle arbitrary objects (``weights_only=False``); only for files whose source
            you trust, e.g. training checkpoints that also hold a yacs config.
    """
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=not trust)
    except Exception as exc:
        if trust:
            raise
        raise CheckpointMismatchError(
            f'{path} holds objects other than tensors and cannot be loaded safely ({exc}). If you '
            'trust where it comes from, convert it with --trust.') from exc
    for wrapper in ('model', 'state_dict'):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(wrapper), dict):
            checkpoint = checkpoint[wrapper]
            break
    if not isinstance(checkpoint, dict) or not all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointMismatchError(
            f'{path} is neither a state dict nor a dict with a "model"/"state_dict" state dict')
    # DataParallel / DDP prefixes
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                       for k, v in checkpoint.items())


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


def state_dict_problems(state_dict: Dict[str, torch.Tensor],
                        expected: Dict[str, torch.Tensor]) -> List[str]:
    """What keeps ``state_dict`` from loading strictly where ``expected`` is the target's state
    dict: missing and unexpected keys and shape mismatches, one string each (empty if none)."""
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [f'{k}: {tuple(state_dict[k].shape)} vs {tuple(v.shape)}'
                  for k, v in expected.items() if k in state_dict and state_dict[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f'missing {len(missing)}: {_preview(missing)}')
    if unexpected:
        problems.append(f'unexpected {len(unexpected)}: {_preview(unexpected)}')
    if mismatched:
        problems.append(f'shape mismatch {len(mismatched)} (checkpoint vs model): '
                        f'{_preview(mismatched)}')
    return problems


def check_state_dict(state_dict: Dict[str, torch.Tensor], model: torch.nn.Module) -> None:
    """Raise unless ``state_dict`` has exactly the keys and shapes of ``model``'s state dict."""
    problems = state_dict_problems(state_dict, model.state_dict())
    if problems:
        raise CheckpointMismatchError('converted checkpoint does not fit the model: ' +
                                      '; '.join(problems))


def match_arch(arch_zoo: Dict[str, dict], found: dict, model_name: str) -> str:
    """The first arch name whose settings include ``found`` (e.g. channels and depths)."""
    for name, settings in arch_zoo.items():
        if all(settings.get(k) == v for k, v in found.items()):
            return name
    raise CheckpointMismatchError(
        f'no {model_name} arch has {found}; known: '
        + ', '.join(f'{n} {[arch_zoo[n].get(k) for k in found]}' for n in arch_zoo))


def _preview(items: List[str], limit: int = 10) -> str:
    return ', '.join(items[:limit]) + (f' ... (+{len(items) - limit} more)' if len(items) > limit else '')
