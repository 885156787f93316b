"""The vmlp_mm backbones as timm models: ``timm.create_model('vmlp_<family>_<arch>')``.

    import vmlp_mm.timm_models  # registers the models (``import vmlp_mm`` does not import timm)
    model = timm.create_model('vmlp_activemlp_tiny', num_classes=100)
    features = timm.create_model('vmlp_repmlp_t224', features_only=True, out_indices=(1, 2, 3))
    model = timm.create_model('vmlp_msmlp_tiny.official_in1k', pretrained=True,
                              pretrained_cfg_overlay=dict(file='msmlp_tiny_patch4_ckpt_epoch299.pth'))

Every model is the official classifier (:class:`vmlp_mm.classifier.VisionMLPClassifier`) with
timm's model interface, built through timm's ``build_model_with_cfg``: pretrained configs
(``generate_default_cfgs``: ``<name>.official_in1k`` where the authors released weights, with
their download, license, paper and evaluation preprocessing), ``features_only`` through timm's
feature wrappers (``FeatureGetterNet`` over ``forward_intermediates``), and
:func:`checkpoint_filter_fn`, which takes the authors' checkpoint files as published (converted in
memory by the family's converter) as well as vmlp_mm's classification checkpoints.
"""
import re
from typing import Dict, List

import torch
import torch.nn as nn
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import register_notrace_function, register_notrace_module
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._builder import resolve_pretrained_cfg
from timm.models._hub import download_cached_file
from timm.models._pretrained import PretrainedCfg

from .classifier import VisionMLPClassifier
from .families import FAMILIES, ModelFamily, convert_official_for, is_official_layout
from .utils.checkpoint import load_checkpoint, strip_wrapper_prefixes, weights_of

#: files a download is direct from (the others are pages of file-hosting services)
DIRECT_DOWNLOAD = re.compile(r'^https?://[^/]*(blob\.core\.windows\.net|github\.com/.*/releases/)')


def model_names(family: ModelFamily) -> Dict[str, str]:
    """``vmlp_<family>_<arch>`` -> arch, for every canonical arch."""
    return {f'vmlp_{family.name}_{arch}': arch for arch in family.archs}


def _cfg(family: ModelFamily, arch: str) -> dict:
    size = family.backbone.pretraining_size_of(family.backbone.arch_zoo[arch])
    weights = family.weights.get(arch, '')
    direct = bool(DIRECT_DOWNLOAD.match(weights))
    return dict(
        url=weights if direct else '', origin_url=weights or family.code,
        num_classes=1000, input_size=(3, size, size), pool_size=(size // 32, size // 32),
        crop_pct=family.eval_crop_pct, interpolation=family.eval_interpolation,
        mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
        first_conv=f'backbone.{family.backbone.first_conv}', classifier='head.fc',
        license=family.license,
        paper_ids=f'arXiv:{family.paper}', paper_name=family.backbone.__name__,
        notes=() if direct or not weights else (
            'the authors publish these weights on a page that needs a browser: download the '
            'file, then pass pretrained_cfg_overlay=dict(file=PATH)', ))


def _pretrained_cfgs() -> dict:
    cfgs = {}
    for family in FAMILIES.values():
        for name, arch in model_names(family).items():
            tag = 'official_in1k' if arch in family.weights else ''
            cfgs[f'{name}.{tag}' if tag else name] = _cfg(family, arch)
    return cfgs


default_cfgs = generate_default_cfgs(_pretrained_cfgs())


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor],
                         model: VisionMLPClassifier) -> Dict[str, torch.Tensor]:
    """A checkpoint's weights in the model's names (timm's ``pretrained_filter_fn``).

    Takes the authors' files as published (their key layout, ``module.`` prefixes; converted in
    memory by the family's converter, with its errors for a file of another family and a named
    one for another arch) and vmlp_mm's classification checkpoints (``backbone.*``,
    ``head.fc.*``). The output norms a classifier has no weights for (``features_only`` models
    normalise every stage, as in the dense setting) keep their fresh initialisation.
    """
    state_dict = strip_wrapper_prefixes(dict(state_dict))
    if is_official_layout(state_dict):
        state_dict = convert_official_for(model.backbone, state_dict)
    own = model.state_dict()
    for key, value in own.items():
        if re.match(r'backbone\.norm\d+\.', key) and key not in state_dict:
            state_dict[key] = value
    return state_dict


def _read_weights(pretrained_cfg: PretrainedCfg, cache_dir=None) -> Dict[str, torch.Tensor]:
    """The state dict of a pretrained config's ``file`` or direct ``url``, read through vmlp_mm's
    checkpoint reader (timm's reads only tensors, and the authors' files carry more: their
    training configs and optimiser states)."""
    path = pretrained_cfg.file
    if not path and pretrained_cfg.url:  # timm's download cache, then our reader
        path = download_cached_file(pretrained_cfg.url, progress=True, cache_dir=cache_dir)
    if not path:
        raise ValueError(
            f'{pretrained_cfg.architecture}: no pretrained weights to download '
            f'({pretrained_cfg.origin_url or "none released"}); download the authors\' file and '
            'pass pretrained_cfg_overlay=dict(file=PATH), or a vmlp_mm checkpoint as '
            'checkpoint_path=PATH')
    return weights_of(load_checkpoint(path))


def _create(family: ModelFamily, arch: str, variant: str, pretrained: bool = False,
            **kwargs) -> nn.Module:
    """Build through timm's ``build_model_with_cfg``; the weights of ``pretrained`` are read here
    (:func:`_read_weights`) and handed to timm as a state dict."""
    if pretrained:
        overlay = dict(kwargs.pop('pretrained_cfg_overlay', None) or {})
        cfg = resolve_pretrained_cfg(variant, pretrained_cfg=kwargs.get('pretrained_cfg'),
                                     pretrained_cfg_overlay=overlay)
        if cfg.state_dict is None:
            overlay.update(state_dict=_read_weights(cfg, kwargs.get('cache_dir')), file=None,
                           url='')
        kwargs['pretrained_cfg_overlay'] = overlay
    features_only = kwargs.get('features_only', False)
    if kwargs.get('feature_cls', 'getter') != 'getter':
        raise ValueError(
            f"{variant}: features_only takes feature_cls='getter' (the default: the stage maps of "
            "forward_intermediates, each through its output norm); the module-walking wrappers "
            "('list', 'dict', 'hook', 'fx') need stages that are called one after another, and "
            'these stages also exchange skips and window grids')
    # every stage normalised by its output norm, as the dense configs' backbones
    feature_cfg = dict(feature_cls='getter', norm=True, out_indices=(0, 1, 2, 3))
    return build_model_with_cfg(
        VisionMLPClassifier.from_timm_kwargs, variant, pretrained, family=family, arch=arch,
        dense_outputs=features_only, pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=feature_cfg, **kwargs)


def register_family_models(family: ModelFamily) -> List[str]:
    """Register ``vmlp_<family>_<arch>`` for every canonical arch; returns the names."""
    for name, arch in model_names(family).items():

        def entrypoint(pretrained: bool = False, _arch: str = arch, _name: str = name,
                       **kwargs) -> nn.Module:
            return _create(family, _arch, _name, pretrained=pretrained, **kwargs)

        entrypoint.__name__ = entrypoint.__qualname__ = name
        entrypoint.__doc__ = f'{family.backbone.__name__} arch {arch!r} (vmlp_mm).'
        entrypoint.__module__ = __name__
        register_model(entrypoint)
    return list(model_names(family))


def register_fx_leaves(family: ModelFamily) -> None:
    """The backbone's shape-reading helpers as leaves of timm's fx tracing (as timm registers its
    own), so torchvision's and timm's feature extractors trace every model."""
    for leaf in family.backbone.fx_leaves:
        (register_notrace_module if isinstance(leaf, type) else register_notrace_function)(leaf)


for _family in FAMILIES.values():
    register_family_models(_family)
    register_fx_leaves(_family)

__all__ = ['checkpoint_filter_fn', 'default_cfgs', 'register_family_models']
