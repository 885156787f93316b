"""vmlp_mm: vision-MLP backbones for mmpretrain, mmsegmentation and mmdetection.

Importing it registers the backbones and helpers in the ``vmlp_mm`` registry scope and the model
index with mmpretrain's ModelHub (:mod:`vmlp_mm.model_zoo`), and silences setuptools'
pkg_resources deprecation warnings; it changes no other global state of torch or mmengine
(checkpoints: :mod:`vmlp_mm.utils.checkpoint`).
"""
import warnings

# setuptools' deprecation notice, printed once per package that mmengine, mmcv and mmpretrain
# import pkg_resources from: noise in every run, nothing a user of vmlp_mm can act on
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

from . import backbones, engine  # noqa: F401,E402  (register modules)
from .model_zoo import register_model_index  # noqa: E402
from .version import __version__  # noqa: E402

register_model_index()

__all__ = ['__version__']
