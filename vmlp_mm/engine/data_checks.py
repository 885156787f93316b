"""Dataset problems found before the first iteration, named with the dataset and the file.

The upstream datasets raise whatever their parsers raise (``invalid literal for int()``, a
``JSONDecodeError`` at "line 1 column 1"), find a missing or corrupt image only when a batch
reaches it (in a worker, naming no file), drop what they cannot use without a word (mmdet: boxes
of zero area, of negative size, outside the image, of unknown categories) or pass it on (mmseg: a
map's labels beyond the classes, a 16-bit map cast to 8 bits, a map of another size), and a head
with fewer classes than the data fails inside a loss with a shape assertion.
:func:`build_dataloader_clearly` and :func:`check_dataset` turn these into one
:class:`DatasetError` each, before training starts:

- every sample's files exist; every image decodes (PIL, JPEG at reduced scale: the whole stream is
  read); a segmentation map is 8-bit class indices of its image's size, within the classes or the
  ignore index; a classification label is one of the classes; a COCO annotation keeps a box of
  positive size inside its image, a known category, an image size that matches the file. Up to
  :data:`MAX_SAMPLES_DECODED` samples are decoded, a fixed random sample of larger datasets
  (ImageNet: ~10 s on 4 threads); existence is checked for up to :data:`MAX_FILES_CHECKED`.
- bad samples are an error naming the files, with counts per problem; with
  ``VMLP_SKIP_BAD_SAMPLES=1`` (``--skip-bad-samples`` of tools/train.py and tools/test.py) they
  are a warning and left out (mmdet drops the bad annotations, as it always did).
- a sample that fails later anyway (beyond the decoded sample) stops the run with its file named
  (:class:`NamedFailures` around the dataset's pipeline), not a worker's traceback.
"""
import collections
import json
import logging
import os
import os.path as osp
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional

import numpy as np
import torch.nn as nn

#: data_list fields that name files the pipeline will read
FILE_FIELDS = ('img_path', 'seg_map_path')
#: beyond this many samples, file existence is checked on a fixed random sample of this size
MAX_FILES_CHECKED = 100_000
#: beyond this many samples, decoding (images, maps) is checked on a fixed random sample
MAX_SAMPLES_DECODED = 10_000
#: the switch that turns bad samples from an error into a warning (they are left out)
SKIP_ENV = 'VMLP_SKIP_BAD_SAMPLES'


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
    """Empty datasets, files the samples name that are missing, and bad samples (see the module
    docstring); the dataset's pipeline then names the file of any sample that fails later."""
    if len(dataset) == 0:
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        hint = (f'; are its classes {list(classes)[:8]} the ones its annotations use?'
                if classes else '')
        raise DatasetError(f'{name} has no samples (after filtering){hint}')
    if not hasattr(dataset, 'get_data_info'):
        return
    data_list = (dataset.get_data_info(i) for i in _indices(len(dataset), MAX_FILES_CHECKED))
    for info in data_list:
        missing = _missing_file(info)
        if missing:
            raise DatasetError(f'{name}: {missing} does not exist (a file its annotations list); '
                               'restore it or remove the sample from the annotations')
    bad = bad_samples(dataset)
    dropped = coco_annotation_problems(dataset)
    if bad or dropped:
        report(dataset, name, bad, dropped)
    name_failing_samples(dataset, name)


def skipping_bad_samples() -> bool:
    return os.environ.get(SKIP_ENV, '') not in ('', '0')


def report(dataset, name: str, bad: Dict[int, str], dropped: Dict[str, List[str]]) -> None:
    """Raise, or warn and leave the bad samples out (``VMLP_SKIP_BAD_SAMPLES``)."""
    lines = []
    by_problem = collections.defaultdict(list)
    for index, problem in sorted(bad.items()):
        by_problem[problem.split(':', 1)[0]].append(problem)
    for kind, problems in by_problem.items():
        lines.append(f'{len(problems)} {kind}: ' + '; '.join(p.split(': ', 1)[-1] for p in
                                                              problems[:3])
                     + (' ...' if len(problems) > 3 else ''))
    for kind, files in dropped.items():
        lines.append(f'{len(files)} annotations {kind}: ' + ', '.join(files[:3])
                     + (' ...' if len(files) > 3 else ''))
    summary = f'{name}: ' + ' | '.join(lines)
    if not skipping_bad_samples():
        raise DatasetError(summary + '. Fix or remove them; or pass --skip-bad-samples '
                           f'({SKIP_ENV}=1) to leave them out with a warning')
    from mmengine.logging import print_log
    print_log(summary + ' -- left out (--skip-bad-samples)', logger='current',
              level=logging.WARNING)
    if bad:
        keep = [i for i in range(len(dataset)) if i not in bad]
        if not keep:
            raise DatasetError(f'{name}: every sample is bad ({summary})')
        dataset.get_subset_(keep)


def bad_samples(dataset) -> Dict[int, str]:
    """Index -> ``'<problem>: <file> <detail>'`` for the samples whose files do not decode or
    whose labels the model cannot use (on up to :data:`MAX_SAMPLES_DECODED` samples)."""
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes') or ()
    seg = dict(ignore_index=getattr(dataset, 'ignore_index', 255),
               reduce_zero_label=getattr(dataset, 'reduce_zero_label', False),
               label_map=getattr(dataset, 'label_map', None), num_classes=len(classes))

    def check(index: int) -> Optional[str]:
        info = dataset.get_data_info(index)
        if not isinstance(info, dict):
            return None
        image = info.get('img_path')
        if isinstance(image, str) and osp.isfile(image):
            problem = image_problem(image)
            if problem:
                return f'unreadable images: {image} {problem}'
        label = info.get('gt_label')
        if classes and isinstance(label, (int, np.integer)) and not 0 <= label < len(classes):
            return (f'labels outside the classes: {image or index} has label {int(label)} of '
                    f'{len(classes)} classes')
        seg_map = info.get('seg_map_path')
        if isinstance(seg_map, str) and osp.isfile(seg_map) and classes:
            problem = seg_map_problem(seg_map, image, **seg)
            if problem:
                return f'unusable segmentation maps: {seg_map} {problem}'
        return None

    indices = list(_indices(len(dataset), MAX_SAMPLES_DECODED))
    with ThreadPoolExecutor(4) as pool:  # PIL decodes without the GIL
        found = pool.map(check, indices)
    return {i: problem for i, problem in zip(indices, found) if problem}


def image_problem(path: str) -> Optional[str]:
    """Why the image file at ``path`` cannot be decoded, or None."""
    from PIL import Image
    try:
        if osp.getsize(path) == 0:
            return 'is empty (0 bytes)'
        with Image.open(path) as image:
            image.draft('RGB', (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except OSError as exc:
        if exc.filename:  # the file itself cannot be opened (permissions)
            return f'cannot be read ({exc.strerror})'
        return f'cannot be decoded ({exc})'
    except (SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f'cannot be decoded ({exc})'
    return None


def seg_map_problem(path: str, image: Optional[str], num_classes: int, ignore_index: int,
                    reduce_zero_label: bool, label_map: Optional[dict]) -> Optional[str]:
    """Why mmseg's ``LoadAnnotations`` would read the map at ``path`` wrongly, or None."""
    from PIL import Image
    try:
        with Image.open(path) as seg_map:
            mode, size = seg_map.mode, seg_map.size
            values = np.unique(np.asarray(seg_map)) if mode in ('L', 'P', '1') else None
        image_size = Image.open(image).size if image and osp.isfile(image) else size
    except (OSError, SyntaxError, ValueError) as exc:
        return f'cannot be decoded ({exc})'
    if mode in ('I;16', 'I;16B', 'I;16L', 'I', 'F'):
        return (f'is a {"32" if mode in ("I", "F") else "16"}-bit map (mode {mode}): mmseg casts '
                'it to 8 bits, wrapping labels above 255; save it as 8-bit class indices')
    if values is None:
        return f'has {mode} pixels, not class indices (mode L or P); convert it to class indices'
    if size != image_size:
        return f'is {size[0]}x{size[1]}, its image {image} {image_size[0]}x{image_size[1]}'
    labels = values.astype(np.int64)
    if reduce_zero_label:
        labels = np.where(labels == 0, 255, labels - 1)
        labels[labels == 254] = 255
    if label_map:
        labels = np.array([label_map.get(int(v), int(v)) for v in labels])
    outside = sorted(int(v) for v in set(labels.tolist()) if not (
        0 <= v < num_classes or v == ignore_index))
    if outside:
        return (f'holds labels {outside[:6]} outside the {num_classes} classes (0..'
                f'{num_classes - 1}) and the ignore index {ignore_index}')
    return None


def coco_annotation_problems(dataset) -> Dict[str, List[str]]:
    """Problem -> image files, for the COCO annotations mmdet's ``CocoDataset`` would drop
    without a word (or whose image size is wrong, so masks would be drawn at the wrong size).
    Read from the annotation file again, in the main process only (the others share the
    outcome: mmdet drops the same annotations there)."""
    from mmengine.dist import is_main_process
    ann_file = getattr(dataset, 'ann_file', None)
    if not (hasattr(dataset, 'cat_ids') and isinstance(ann_file, str) and
            ann_file.endswith('.json') and osp.isfile(ann_file) and is_main_process()):
        return {}
    with open(ann_file) as f:
        coco = json.load(f)
    known = {c['id'] for c in coco.get('categories', [])}
    images = {im['id']: im for im in coco.get('images', [])}
    prefix = (getattr(dataset, 'data_prefix', None) or {}).get('img', '')
    problems = collections.defaultdict(list)
    checked_sizes = set()
    for ann in coco.get('annotations', []):
        image = images.get(ann.get('image_id'))
        if image is None or ann.get('ignore', False):
            continue
        name = image.get('file_name', str(ann.get('image_id')))
        x1, y1, w, h = ann['bbox']
        inter_w = max(0, min(x1 + w, image['width']) - max(x1, 0))
        inter_h = max(0, min(y1 + h, image['height']) - max(y1, 0))
        if w < 1 or h < 1 or ann.get('area', 1) <= 0:
            problems['with boxes of zero or negative size (width or height < 1, or area <= 0)'
                     ].append(f'{name} {[round(v, 1) for v in ann["bbox"]]}')
        elif inter_w * inter_h == 0:
            problems['with boxes outside their image'].append(
                f'{name} {[round(v, 1) for v in ann["bbox"]]} in {image["width"]}x'
                f'{image["height"]}')
        if ann.get('category_id') not in known:
            problems['of categories the file does not define'].append(
                f'{name} category_id={ann.get("category_id")}')
        if image['id'] not in checked_sizes and len(checked_sizes) < MAX_SAMPLES_DECODED:
            checked_sizes.add(image['id'])
            size = _image_size(osp.join(prefix, name))
            if size and size != (image['width'], image['height']):
                problems['on images whose size differs from the file (masks and boxes would '
                         'be placed wrongly)'].append(
                    f'{name}: annotations {image["width"]}x{image["height"]}, file '
                    f'{size[0]}x{size[1]}')
    return dict(problems)


def _image_size(path: str):
    from PIL import Image
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError):
        return None  # a missing or undecodable file is reported by the sample checks


class NamedFailures:
    """A dataset's pipeline whose failures name the sample's file (a corrupt image beyond the
    decoded sample fails in a worker, whose traceback names no file)."""

    def __init__(self, pipeline, name: str):
        self.pipeline, self.name = pipeline, name

    def __call__(self, data):
        path = data.get('img_path') if isinstance(data, dict) else None
        try:
            return self.pipeline(data)
        except Exception as exc:  # noqa: B902 (re-raised with the file named)
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(
                f'{self.name}: the sample {path} fails in the pipeline ({type(exc).__name__}: '
                f'{" ".join(str(exc).split())[:300]}); replace or remove the file') from exc

    def __getattr__(self, name):  # transforms, etc. (not during unpickling: no pipeline yet)
        if name == 'pipeline':
            raise AttributeError(name)
        return getattr(self.pipeline, name)

    def __repr__(self):
        return repr(self.pipeline)


def name_failing_samples(dataset, name: str) -> None:
    for inner in [dataset, *getattr(dataset, 'datasets', []), getattr(dataset, 'dataset', None)]:
        pipeline = getattr(inner, 'pipeline', None)
        if pipeline is not None and callable(pipeline) and \
                not isinstance(pipeline, NamedFailures):
            inner.pipeline = NamedFailures(pipeline, name)


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


def _indices(length: int, limit: int):
    if length <= limit:
        return range(length)
    return sorted(random.Random(0).sample(range(length), limit))


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
