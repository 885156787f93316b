"""vmlp_mm: vision-MLP backbones for mmpretrain, mmsegmentation and mmdetection.

Importing it registers the backbones and helpers in the ``vmlp_mm`` registry scope; it does not
import mmpretrain, mmseg or mmdet, and changes no global state of torch or mmengine
(checkpoints: :mod:`vmlp_mm.utils.checkpoint`).
"""
from .version import __version__
from . import backbones, engine  # noqa: F401,E402  (register modules)

__all__ = ['__version__']
