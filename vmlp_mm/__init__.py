"""vmlp_mm: vision-MLP backbones for mmpretrain, mmsegmentation and mmdetection.

Importing it keeps mmpretrain importable next to transformers 5 (:mod:`vmlp_mm.utils.compat`),
registers the backbones and helpers in the ``vmlp_mm`` registry scope and the model
index with mmpretrain's ModelHub (:mod:`vmlp_mm.model_zoo`), and silences setuptools'
pkg_resources deprecation warnings; it changes no other global state of torch or mmengine
(checkpoints: :mod:`vmlp_mm.utils.checkpoint`).
"""
import warnings

# setuptools' deprecation notice, printed once per package that mmengine, mmcv and mmpretrain
# import pkg_resources from: noise in every run, nothing a user of vmlp_mm can act on
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

from .utils.compat import keep_mmpretrain_importable  # noqa: E402

keep_mmpretrain_importable()  # before anything imports mmpretrain (transformers 5)

from . import backbones, engine  # noqa: F401,E402  (register modules)
from .backbones import MSMLP, ActiveMLP, PosMLP, RepMLPNet, StripMLP  # noqa: E402
from .model_zoo import register_model_index  # noqa: E402
from .version import __version__  # noqa: E402

register_model_index()


def __getattr__(name: str):
    """``vmlp_mm.timm_models`` (timm's ``vmlp_*`` entry points) and the classifier, imported on
    first use: ``import vmlp_mm`` itself does not import timm."""
    if name == 'timm_models':
        import importlib
        return importlib.import_module('.timm_models', __name__)
    if name == 'VisionMLPClassifier':
        from .classifier import VisionMLPClassifier
        return VisionMLPClassifier
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['__version__', 'ActiveMLP', 'MSMLP', 'PosMLP', 'RepMLPNet', 'StripMLP',
           'VisionMLPClassifier', 'timm_models']
