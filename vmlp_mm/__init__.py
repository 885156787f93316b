"""vmlp_mm: vision-MLP backbones for mmpretrain, mmsegmentation and mmdetection.

Importing it registers the backbones and helpers in the ``vmlp_mm`` registry scope and the model
index with mmpretrain's ModelHub (:mod:`vmlp_mm.model_zoo`); it changes no other global state of
torch or mmengine (checkpoints: :mod:`vmlp_mm.utils.checkpoint`).
"""
from .version import __version__
from . import backbones, engine  # noqa: F401,E402  (register modules)
from .model_zoo import register_model_index

register_model_index()

__all__ = ['__version__']
