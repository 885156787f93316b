"""Tiny real datasets the repository makes itself, for the CPU demo and the end-to-end tests.

- ``digits``: scikit-learn's bundled handwritten digits (1797 real 8x8 scans), upscaled to 64x64
  RGB, in the ImageNet folder-per-class layout ``digits/{train,val}/<class>/<n>.png``.
- ``shapes_ade``: rendered scenes of squares, circles and triangles on textured backgrounds with
  per-pixel labels, in the ADE20K layout ``images/{training,validation}/*.jpg`` +
  ``annotations/{training,validation}/*.png`` (0 = background, 1..3 = shapes).
- ``shapes_coco``: the same kind of scenes with instance polygons, in the COCO layout
  ``{train,val}2017/*.jpg`` + ``annotations/instances_{train,val}2017.json``.
- ``shapes_far``: a long-range dense task in the ADE20K layout: a cue shape near the left edge,
  in its class's colour as in ``shapes_ade``, and a grey target shape near the right edge, 56-96
  pixels apart; both are labelled with the cue's class. The cue is recognised locally; the
  target's label is decided only by the cue, far away (its own shape is random).
"""
import json
import os
import os.path as osp
from typing import List, Tuple

import cv2
import numpy as np

SHAPE_CLASSES = ('square', 'circle', 'triangle')
SHAPE_COLORS = [(220, 60, 60), (60, 180, 75), (70, 90, 230)]
#: raised when a set's content changes, so that an older copy on disk is made again
SET_VERSIONS = {'digits': 1, 'shapes_ade': 1, 'shapes_coco': 1, 'shapes_far': 2}


def make_digits(root: str, size: int = 64, val_fraction: float = 0.2, seed: int = 0) -> None:
    """ImageNet-layout digits: every 5th image of each class (shuffled once) goes to val."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    rng = np.random.default_rng(seed)
    for label in range(10):
        indices = rng.permutation(np.flatnonzero(digits.target == label))
        num_val = int(round(len(indices) * val_fraction))
        for split, chosen in (('val', indices[:num_val]), ('train', indices[num_val:])):
            folder = osp.join(root, split, str(label))
            os.makedirs(folder, exist_ok=True)
            for n in chosen:
                gray = (digits.images[n] * (255. / 16.)).astype(np.uint8)
                image = cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC)
                cv2.imwrite(osp.join(folder, f'{n:04d}.png'),
                            cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))


def _shape_polygon(rng: np.random.Generator, cls: int, cx: float, cy: float,
                   radius: float) -> np.ndarray:
    if SHAPE_CLASSES[cls] == 'square':
        angles = np.deg2rad(45 + rng.uniform(0, 90) + np.arange(4) * 90)
    elif SHAPE_CLASSES[cls] == 'circle':
        angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    else:
        angles = np.deg2rad(rng.uniform(0, 120) + np.arange(3) * 120)
    return np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(40, 200, size=3)
    noise = rng.normal(0, 18, size=(size, size, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _draw(rng: np.random.Generator, image: np.ndarray, cls: int, polygon: np.ndarray) -> None:
    color = np.clip(np.array(SHAPE_COLORS[cls]) + rng.integers(-30, 30, size=3), 0, 255)
    cv2.fillPoly(image, [np.round(polygon).astype(np.int32)], [int(c) for c in color[::-1]])


def _render_scene(rng: np.random.Generator, size: int) -> Tuple[np.ndarray, List[tuple]]:
    """A textured background with 1-3 shapes; returns the BGR image and (class, polygon) pairs
    in drawing order (later shapes occlude earlier ones)."""
    image = _background(rng, size)
    objects = []
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.integers(len(SHAPE_CLASSES)))
        radius = float(rng.uniform(size * 0.1, size * 0.22))
        cx, cy = rng.uniform(radius, size - radius, size=2)
        polygon = _shape_polygon(rng, cls, cx, cy, radius)
        _draw(rng, image, cls, polygon)
        objects.append((cls, polygon))
    return image, objects


def _render_far_scene(rng: np.random.Generator, size: int) -> Tuple[np.ndarray, List[tuple]]:
    """A cue shape in the left fifth, drawn as in :func:`_render_scene`, and a target shape of
    random class in the right fifth in a neutral grey; both are labelled with the cue's class,
    so nothing near the target tells its label."""
    image = _background(rng, size)
    cue = int(rng.integers(len(SHAPE_CLASSES)))
    objects = []
    for is_cue, cls, (low, high) in ((True, cue, (0.12, 0.2)),
                                     (False, int(rng.integers(len(SHAPE_CLASSES))), (0.8, 0.88))):
        radius = float(rng.uniform(size * 0.07, size * 0.1))
        cx, cy = rng.uniform(low * size, high * size), rng.uniform(radius, size - radius)
        polygon = _shape_polygon(rng, cls, cx, cy, radius)
        if is_cue:
            _draw(rng, image, cls, polygon)
        else:
            grey = int(rng.integers(0, 2)) * 200 + int(rng.integers(0, 40))
            cv2.fillPoly(image, [np.round(polygon).astype(np.int32)], (grey, grey, grey))
        objects.append((cue, polygon))
    return image, objects


def _label_map(objects, size: int) -> np.ndarray:
    labels = np.zeros((size, size), np.uint8)
    for cls, polygon in objects:
        cv2.fillPoly(labels, [np.round(polygon).astype(np.int32)], cls + 1)
    return labels


def make_shapes_ade(root: str, num_train: int = 240, num_val: int = 60, size: int = 128,
                    seed: int = 1, render=_render_scene) -> None:
    rng = np.random.default_rng(seed)
    for split, count in (('training', num_train), ('validation', num_val)):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for n in range(count):
            image, objects = render(rng, size)
            cv2.imwrite(osp.join(root, 'images', split, f'{n:05d}.jpg'), image)
            cv2.imwrite(osp.join(root, 'annotations', split, f'{n:05d}.png'),
                        _label_map(objects, size))


def make_shapes_coco(root: str, num_train: int = 240, num_val: int = 60, size: int = 128,
                     seed: int = 2) -> None:
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for n in range(count):
            image, objects = _render_scene(rng, size)
            file_name = f'{n:05d}.jpg'
            cv2.imwrite(osp.join(root, split, file_name), image)
            images.append(dict(id=n, file_name=file_name, height=size, width=size))
            # visible mask of each object (later shapes occlude earlier ones)
            instance_map = np.full((size, size), -1, np.int32)
            for i, (_, polygon) in enumerate(objects):
                cv2.fillPoly(instance_map, [np.round(polygon).astype(np.int32)], i)
            for i, (cls, _) in enumerate(objects):
                mask = (instance_map == i).astype(np.uint8)
                contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                segmentation = [c.reshape(-1).astype(float).tolist() for c in contours
                                if len(c) >= 3]
                if int(mask.sum()) < 16 or not segmentation:
                    continue  # almost fully occluded
                x, y, w, h = cv2.boundingRect(mask)
                annotations.append(
                    dict(id=len(annotations) + 1, image_id=n, category_id=cls + 1,
                         segmentation=segmentation, area=float(mask.sum()),
                         bbox=[float(x), float(y), float(w), float(h)], iscrowd=0))
        categories = [dict(id=i + 1, name=name) for i, name in enumerate(SHAPE_CLASSES)]
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)


def make_shapes_far(root: str, num_train: int = 240, num_val: int = 60, size: int = 128,
                    seed: int = 3) -> None:
    make_shapes_ade(root, num_train, num_val, size, seed, render=_render_far_scene)


def make_demo_data(root: str = 'data/demo', force: bool = False) -> str:
    """Make all sets under ``root``, skipping those already there in their current version
    (``.complete`` holds it; empty: version 1) unless ``force``."""
    makers = {'digits': make_digits, 'shapes_ade': make_shapes_ade, 'shapes_coco': make_shapes_coco,
              'shapes_far': make_shapes_far}
    for name, maker in makers.items():
        target = osp.join(root, name)
        done = osp.join(target, '.complete')
        version = str(SET_VERSIONS[name])
        if osp.exists(done) and not force:
            with open(done) as f:
                if (f.read().strip() or '1') == version:
                    continue
        maker(target)
        with open(done, 'w') as f:
            f.write(version)
    return root
