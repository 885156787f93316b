"""vmlp_mm: vision-MLP backbones for mmpretrain, mmsegmentation and mmdetection.

Importing it registers the backbones and helpers in the ``vmlp_mm`` registry scope; it does not
import mmpretrain, mmseg or mmdet.
"""
from .version import __version__
from .utils.checkpoint import allow_mmengine_checkpoints
from . import backbones, engine  # noqa: F401,E402  (register modules)

allow_mmengine_checkpoints()

__all__ = ['__version__']
