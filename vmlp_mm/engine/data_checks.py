"""Dataset problems found before the first iteration, named with the dataset and the file.

The upstream datasets raise whatever their parsers raise (``invalid literal for int()``, a
``JSONDecodeError`` at "line 1 column 1"), find a missing image or segmentation map only when a
batch reaches it (or never, if sampling skips it), and a head with fewer classes than the data
fails inside a loss with a shape assertion. :func:`build_dataloader_clearly` and
:func:`check_dataset` turn these into one :class:`DatasetError` each.
"""
import json
import os.path as osp
import random
from typing import Callable, Optional

import torch.nn as nn

#: data_list fields that name files the pipeline will read
FILE_FIELDS = ('img_path', 'seg_map_path')
#: beyond this many samples, file existence is checked on a fixed random sample of this size
MAX_FILES_CHECKED = 100_000


class DatasetError(ValueError):
    """A dataset cannot be used as configured; the message names it and the file."""


def describe(dataset_cfg) -> str:
    if not isinstance(dataset_cfg, dict):
        return type(dataset_cfg).__name__
    parts = [dataset_cfg.get('type', 'dataset')]
    for key in ('data_root', 'ann_file', 'data_prefix'):
        if dataset_cfg.get(key):
            parts.append(f'{key}={dataset_cfg[key]!r}')
    return ' '.join(parts)


def build_dataloader_clearly(build: Callable, dataloader, *args, **kwargs):
    """``build(dataloader, ...)`` with the dataset named in any error it raises, and the built
    dataset checked by :func:`check_dataset`."""
    dataset_cfg = dataloader.get('dataset') if isinstance(dataloader, dict) else None
    try:
        loader = build(dataloader, *args, **kwargs)
    except json.JSONDecodeError as exc:
        raise DatasetError(f'{describe(dataset_cfg)}: the annotation file is not valid JSON '
                           f'({exc}); is it empty or cut off?') from exc
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise DatasetError(f'{describe(dataset_cfg)}: {exc.strerror}: {exc.filename}; check '
                           'data_root, ann_file and data_prefix (relative paths start at '
                           'data_root)') from exc
    except ValueError as exc:
        if 'at least one array' not in str(exc):  # mmengine serialising an empty data list
            raise DatasetError(f'{describe(dataset_cfg)} cannot be loaded: {exc}; check its '
                               'annotation file and folders') from exc
        classes = ((dataset_cfg or {}).get('metainfo') or {}).get('classes')
        raise DatasetError(f'{describe(dataset_cfg)} has no samples (after filtering)'
                           + (f'; are its metainfo classes {list(classes)[:8]} the categories '
                              'its annotations use?' if classes else '')) from exc
    except (KeyError, IndexError, RuntimeError, AssertionError) as exc:
        raise DatasetError(f'{describe(dataset_cfg)} cannot be loaded: {type(exc).__name__}: '
                           f'{exc}; check its annotation file and folders') from exc
    check_dataset(loader.dataset, describe(dataset_cfg))
    return loader


def check_dataset(dataset, name: str) -> None:
    """Empty datasets and files the samples name that are missing."""
    if len(dataset) == 0:
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        hint = (f'; are its classes {list(classes)[:8]} the ones its annotations use?'
                if classes else '')
        raise DatasetError(f'{name} has no samples (after filtering){hint}')
    if not hasattr(dataset, 'get_data_info'):
        return
    data_list = (dataset.get_data_info(i) for i in _indices(len(dataset)))
    for info in data_list:
        missing = _missing_file(info)
        if missing:
            raise DatasetError(f'{name}: {missing} does not exist (a file its annotations list); '
                               'restore it or remove the sample from the annotations')


def check_num_classes(model, dataset, split: str) -> None:
    """A model head whose ``num_classes`` differs from the dataset's class list, or whose
    segmentation loss weighs another number of classes (torch would fail in the first loss,
    naming neither the config key nor the dataset)."""
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if not classes:
        return
    for path in ('head', 'decode_head', 'auxiliary_head', 'roi_head.bbox_head',
                 'roi_head.mask_head'):
        head = model
        for part in path.split('.'):
            head = getattr(head, part, None)
        heads = head if isinstance(head, (list, tuple)) else [head]
        for module in heads:
            num_classes = getattr(module, 'num_classes', None)
            if isinstance(num_classes, int) and num_classes != len(classes):
                raise DatasetError(
                    f'model.{path}.num_classes is {num_classes}, but the {split} dataset has '
                    f'{len(classes)} classes ({", ".join(map(str, list(classes)[:6]))}'
                    f'{", ..." if len(classes) > 6 else ""}); set model.{path}.num_classes='
                    f'{len(classes)}, or the dataset\'s metainfo classes')
            losses = getattr(module, 'loss_decode', None)  # mmseg: one loss or a ModuleList
            for loss in losses if isinstance(losses, (list, tuple, nn.ModuleList)) else [losses]:
                weights = getattr(loss, 'class_weight', None)
                if weights is not None and not getattr(loss, 'use_sigmoid', False) and \
                        len(weights) != len(classes):
                    raise DatasetError(
                        f'model.{path}.loss_decode.class_weight has {len(weights)} entries, but '
                        f'the {split} dataset has {len(classes)} classes; give one weight per '
                        'class, or class_weight=None')


def _indices(length: int):
    if length <= MAX_FILES_CHECKED:
        return range(length)
    return sorted(random.Random(0).sample(range(length), MAX_FILES_CHECKED))


def _missing_file(info) -> Optional[str]:
    if not isinstance(info, dict):
        return None
    for field in FILE_FIELDS:
        path = info.get(field)
        # local files only: a member of a zip (an ancestor is a file) or a URL is not checked
        if isinstance(path, str) and '://' not in path and not osp.exists(path) and \
                osp.isdir(_first_existing_parent(path)):
            return path
    return None


def _first_existing_parent(path: str) -> str:
    parent = osp.dirname(osp.abspath(path))
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    return parent
