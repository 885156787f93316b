"""Pictures of predictions that stay readable at any image size.

The upstream visualizers draw labels in a fixed font at the image's own resolution, so the label of
a 64x64 demo digit is unreadable. Here small images are enlarged first (nearest neighbour, so
pixels stay visible), text is sized to the picture, and segmentation gets a legend of the classes
it shows. Used by ``tools/inference.py``; the arrays are RGB ``uint8``.
"""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

#: pictures are enlarged until their shorter side is at least this
MIN_SIDE = 320


def enlarge(image: np.ndarray, min_side: int = MIN_SIDE) -> Tuple[np.ndarray, int]:
    """``image`` scaled by the smallest integer factor that makes its shorter side >= min_side."""
    factor = max(1, -(-min_side // min(image.shape[:2])))
    if factor == 1:
        return image, 1
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST), factor


def _font_scale(width: int) -> float:
    return max(0.6, width / 400)


def _text(image, text, origin, color=(255, 255, 255), scale=None, background=(0, 0, 0)):
    scale = scale or _font_scale(image.shape[1])
    thickness = max(1, round(scale * 1.5))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = origin
    x, y = min(max(0, x), max(0, image.shape[1] - w)), max(h + base, y)
    if background is not None:
        cv2.rectangle(image, (x, y - h - base), (x + w, y + base), background, -1)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness,
                cv2.LINE_AA)
    return h + 2 * base


def palette_for(classes: Sequence[str], palette: Optional[Sequence] = None) -> np.ndarray:
    if palette is not None and len(palette) >= len(classes):
        return np.asarray(palette[:len(classes)], dtype=np.uint8)
    rng = np.random.RandomState(42)
    return rng.randint(40, 256, (len(classes), 3)).astype(np.uint8)


def draw_classification(image: np.ndarray, label: str, score: float,
                        top: Sequence[Tuple[str, float]] = ()) -> np.ndarray:
    """The image with a band on top: the predicted class and score, then the runners-up."""
    picture, _ = enlarge(image)
    lines = [f'{label}  {score:.2f}'] + [f'{name}  {s:.2f}' for name, s in top]
    scale = _font_scale(picture.shape[1])
    line_height = int(40 * scale)
    band = np.zeros((line_height * len(lines) + 10, picture.shape[1], 3), np.uint8)
    for i, line in enumerate(lines):
        _text(band, line, (8, line_height * (i + 1)), scale=scale * (1 if i == 0 else 0.8),
              color=(255, 255, 255) if i == 0 else (180, 180, 180), background=None)
    return np.concatenate([band, picture])


def draw_segmentation(image: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                      palette: Optional[Sequence] = None, opacity: float = 0.5,
                      ignore_index: int = 255) -> np.ndarray:
    """Class colours blended over the image, and a legend of the classes present."""
    colors = palette_for(classes, palette)
    valid = (labels != ignore_index) & (labels < len(classes))
    # a 'background' class stays uncoloured: the image shows through (and the legend omits it)
    for index, name in enumerate(classes):
        if str(name).lower() == 'background':
            valid &= labels != index
    overlay = image.copy()
    overlay[valid] = colors[labels[valid]]
    blended = (image * (1 - opacity) + overlay * opacity).astype(np.uint8)
    picture, factor = enlarge(blended)
    present = [int(c) for c in np.unique(labels[valid])]
    # white outlines: the predicted regions stay visible where the image has the class colours
    for index in present:
        region = np.kron((labels == index) & valid, np.ones((factor, factor), bool))
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(picture, contours, -1, (255, 255, 255), max(1, factor // 2))
    scale = _font_scale(picture.shape[1]) * 0.8
    row = int(36 * scale)
    legend = np.full((picture.shape[0], max(int(220 * scale), 120), 3), 255, np.uint8)
    for i, index in enumerate(present):
        y = 10 + i * row
        cv2.rectangle(legend, (8, y), (8 + row - 6, y + row - 6),
                      tuple(int(v) for v in colors[index]), -1)
        _text(legend, str(classes[index]), (row + 10, y + row - 10), color=(0, 0, 0),
              scale=scale, background=None)
    return np.concatenate([picture, legend], axis=1)


def draw_detection(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                   classes: Sequence[str], masks: Optional[np.ndarray] = None,
                   palette: Optional[Sequence] = None, opacity: float = 0.45) -> np.ndarray:
    """Instance masks, boxes and ``class score`` labels."""
    colors = palette_for(classes, palette)
    picture = image.copy()
    if masks is not None:
        for mask, label in zip(masks, labels):
            picture[mask] = (picture[mask] * (1 - opacity) + colors[label] * opacity).astype(
                np.uint8)
    picture, factor = enlarge(picture)
    thickness = max(2, picture.shape[1] // 300)
    for box, label, score in zip(boxes, labels, scores):
        x1, y1, x2, y2 = (np.asarray(box) * factor).round().astype(int)
        color = tuple(int(v) for v in colors[label])
        cv2.rectangle(picture, (x1, y1), (x2, y2), color, thickness)
        _text(picture, f'{classes[label]} {score:.2f}', (x1, y1 - 4), scale=_font_scale(
            picture.shape[1]) * 0.7, background=color, color=(0, 0, 0))
    return picture
