"""Registries of the ``vmlp_mm`` scope.

They are children of mmengine's root registries, so configs of mmpretrain, mmseg and mmdet find
our modules as ``type='vmlp_mm.MSMLP'`` once ``vmlp_mm`` is imported (the configs'
``custom_imports``).
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='vmlp_mm',
                  locations=['vmlp_mm.backbones'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='vmlp_mm', locations=['vmlp_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optim wrapper constructor',
                                      parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                      scope='vmlp_mm', locations=['vmlp_mm.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='vmlp_mm', locations=['vmlp_mm.engine'])
OPTIM_WRAPPERS = Registry('optim wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='vmlp_mm',
                          locations=['vmlp_mm.engine'])
# datasets need mmpretrain: imported only when a config builds one (not by ``import vmlp_mm``)
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='vmlp_mm',
                    locations=['vmlp_mm.datasets.zip_imagenet'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS, scope='vmlp_mm',
                         locations=['vmlp_mm.datasets.zip_imagenet'])
