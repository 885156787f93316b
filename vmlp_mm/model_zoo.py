"""Our models by name in mmpretrain: ``mmpretrain.get_model('msmlp-tiny_in1k')``,
``mmpretrain.list_models('*msmlp*')`` and the inferencers given a model name.

mmpretrain's ``ModelHub`` knows only its own ``model-index.yml`` until another is registered; this
registers the repository's (its metafiles list every full-scale config) once, when ``vmlp_mm`` is
imported. mmseg's and mmdet's inferencers resolve names only in their own package's index, so
dense configs are given by path there.
"""
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODEL_INDEX = osp.join(ROOT, 'model-index.yml')


def register_model_index() -> bool:
    """Register the model index with mmpretrain's ModelHub; False where there is none to register
    (mmpretrain not installed, or a non-editable install without the repository's configs)."""
    try:
        from mmpretrain.apis.model import ModelHub
    except ImportError:
        return False
    if not osp.isfile(MODEL_INDEX):
        return False
    if not any(getattr(m, 'filepath', '').startswith(ROOT) for m in ModelHub._models_dict.values()):
        ModelHub.register_model_index(MODEL_INDEX, config_prefix=ROOT)
    return True
