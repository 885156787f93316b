"""The model families: one entry per backbone, which everything else iterates.

A family's short name is the one name of the backbone outside Python: its config folders
(``configs/<task>/<name>/``), its converter (``vmlp_mm/converters/<name>.py``,
``tools/model_converters/<name>_to_vmlp.py``), its timm models (``vmlp_<name>_<arch>``), its demo
configs (``configs/demo/*<name>-<demo_arch>*``) and ``tools/run_demo.py --model <name>``. The
timm models, the converter command line, the demo and the test suite read :data:`FAMILIES`.

Adding a backbone: its file in ``vmlp_mm/backbones/`` (canonical archs in ``arch_zoo``, other
spellings in ``arch_aliases``), its converter module, its configs, and one entry below.
"""
import glob
import importlib
import os.path as osp
from dataclasses import dataclass, field
from types import ModuleType
from typing import Dict, List, Optional, Tuple, Type

import torch

from .backbones import MSMLP, ActiveMLP, PosMLP, RepMLPNet, StripMLP
from .backbones.base import VisionMLPBackbone
from .classifier import VisionMLPClassifier  # noqa: F401  (the families' classifier)
from .utils.checkpoint import CheckpointMismatchError

#: the repository's configs; absent in a non-editable install, where configs are given by path
CONFIG_ROOT = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')

DEMO_CONFIGS = {
    'classification': 'configs/demo/{name}-{arch}_demo-digits.py',
    'segmentation': 'configs/demo/upernet_{name}-{arch}_demo-shapes-ade.py',
    'detection': 'configs/demo/mask-rcnn_{name}-{arch}_fpn_demo-shapes-coco.py',
}


@dataclass(frozen=True)
class ModelFamily:
    """A backbone and what belongs to it.

    Args:
        name: the short name (lower case, no separators).
        backbone: the backbone class.
        converter: import path of the module converting official checkpoints: ``convert(state_dict)
            -> (state_dict, arch)`` and optionally ``backbone_overrides(state_dict) -> dict``.
        demo_arch: the small arch of the CPU demo and the tests.
        paper: the paper's arXiv id.
        code: the official repository.
        license: the license of the official code and weights.
        weights: arch -> the authors' download of its ImageNet-1k weights (a direct file, or the
            page of a file-hosting service that needs a browser).
        eval_crop_pct: the official evaluation's centre crop over the resized short side.
        eval_interpolation: the official evaluation's resize interpolation.
    """
    name: str
    backbone: Type[VisionMLPBackbone]
    converter: str
    demo_arch: str = 'nano'
    paper: str = ''
    code: str = ''
    license: str = 'mit'
    weights: Dict[str, str] = field(default_factory=dict)
    eval_crop_pct: float = 0.875
    eval_interpolation: str = 'bicubic'

    @property
    def archs(self) -> List[str]:
        """The canonical arch names (those of the official models, then the demo's)."""
        return list(self.backbone.arch_zoo)

    @property
    def official_archs(self) -> List[str]:
        return [arch for arch in self.archs if arch != self.demo_arch]

    def load_converter(self) -> ModuleType:
        return importlib.import_module(self.converter)

    def convert(self, official: Dict[str, torch.Tensor]
                ) -> Tuple[Dict[str, torch.Tensor], str, dict]:
        """An authors' state dict converted: the classifier state dict (``backbone.*``,
        ``head.fc.*``), its arch, and the backbone settings it needs beyond the arch's defaults
        (e.g. ``deploy=True`` for re-parameterised RepMLPNet weights)."""
        converter = self.load_converter()
        try:
            state_dict, arch = converter.convert(official)
        except (CheckpointMismatchError, KeyError):  # (a converter may miss its keys plainly)
            other = self._other_family_of(official)
            if other is None:
                raise
            raise CheckpointMismatchError(
                f'the checkpoint is an official {other.backbone.__name__} checkpoint, not one of '
                f'{self.backbone.__name__}: convert it with tools/model_converters/'
                f'{other.name}_to_vmlp.py, or load it with a config of that family'
            ) from None
        overrides = getattr(converter, 'backbone_overrides', lambda _: {})(official)
        return state_dict, arch, overrides

    def _other_family_of(self, official: Dict[str, torch.Tensor]) -> Optional['ModelFamily']:
        """The family whose converter takes ``official``, when this one's does not."""
        for family in FAMILIES.values():
            if family is self:
                continue
            try:
                family.load_converter().convert(official)
            except (CheckpointMismatchError, KeyError, ValueError, RuntimeError):
                continue
            return family
        return None

    def config_dir(self, task: str) -> str:
        """``configs/<task>/<name>`` of the repository (may not exist outside a checkout)."""
        return osp.join(CONFIG_ROOT, task, self.name)

    def demo_config(self, task: str) -> str:
        """The demo config of ``task`` ('classification', 'segmentation', 'detection'), relative
        to the repository root."""
        return DEMO_CONFIGS[task].format(name=self.name, arch=self.demo_arch)

    def classification_config(self, arch: str) -> Optional[str]:
        """The repository's ImageNet config of ``arch`` (``<name>-<arch>_*_in1k*.py``), or None
        where the configs are not installed."""
        matches = sorted(glob.glob(osp.join(self.config_dir('classification'),
                                            f'{self.name}-{arch}_*_in1k*.py')))
        return matches[0] if matches else None


FAMILIES: Dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    """Add a family (names are unique)."""
    if family.name in FAMILIES:
        raise ValueError(f'a model family named {family.name!r} exists already')
    if family.demo_arch not in family.backbone.arch_zoo:
        raise ValueError(f'{family.backbone.__name__} has no demo arch {family.demo_arch!r}')
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> ModelFamily:
    if name not in FAMILIES:
        raise KeyError(f'unknown model family {name!r}; known: {", ".join(FAMILIES)}')
    return FAMILIES[name]


def family_of(backbone: VisionMLPBackbone) -> ModelFamily:
    """The family of a backbone (instance or class)."""
    cls = backbone if isinstance(backbone, type) else type(backbone)
    for family in FAMILIES.values():
        if issubclass(cls, family.backbone):
            return family
    raise KeyError(f'{cls.__name__} is the backbone of no registered model family')


def is_official_layout(state_dict: Dict[str, torch.Tensor]) -> bool:
    """Whether a state dict has an authors' key layout rather than vmlp_mm's (``backbone.*``)."""
    return bool(state_dict) and not any(k.startswith('backbone.') for k in state_dict)


def convert_official_for(backbone: VisionMLPBackbone, official: Dict[str, torch.Tensor]
                         ) -> Dict[str, torch.Tensor]:
    """An authors' checkpoint converted in memory for ``backbone``'s classifier, with the errors
    of the converters for a file of another family, and named ones for another arch or form.

    One path for every loader that meets the authors' files: the backbones' ``init_cfg``
    (``Pretrained``), ``load_from`` and tools/test.py's checkpoint, and timm's
    ``pretrained_cfg_overlay=dict(file=...)``; the converter scripts write the same state dict.
    """
    family = family_of(backbone)
    state_dict, arch, overrides = family.convert(official)
    name = family.backbone.__name__
    if family.backbone.arch_zoo[arch] != backbone.arch_settings:
        model_arch = next((repr(a) for a, settings in family.backbone.arch_zoo.items()
                           if settings == backbone.arch_settings), str(backbone.arch_settings))
        raise CheckpointMismatchError(
            f'the checkpoint is an official {name} {arch!r} checkpoint, the model is {name} '
            f'{model_arch}: build the model with arch={arch!r}')
    for key, value in overrides.items():
        if getattr(backbone, key, None) != value:
            raise CheckpointMismatchError(
                f'the official {name} {arch!r} checkpoint needs {key}={value!r} in the backbone '
                f'(it has {key}={getattr(backbone, key, None)!r})')
    return state_dict


GDRIVE = 'https://drive.google.com/file/d/{}/view'
BAIDU = 'https://pan.baidu.com/s/{}'
for _family in (
        ModelFamily('msmlp', MSMLP, 'vmlp_mm.converters.msmlp', paper='2202.06510',
                    code='https://github.com/JegZheng/MS-MLP', weights={
                        arch: 'https://tsciencescu.blob.core.windows.net/projectshzheng/MSMLP/'
                        f'released_model/msmlp_{arch}_patch4/msmlp_{arch}_patch4_ckpt_epoch299.pth'
                        for arch in ('tiny', 'small', 'base')}),
        ModelFamily('activemlp', ActiveMLP, 'vmlp_mm.converters.activemlp', paper='2203.06108',
                    code='https://github.com/microsoft/ActiveMLP', weights={
                        'xtiny': GDRIVE.format('1JjWFDJM097a2sX9zw2oOisCT-7T43-DV'),
                        'tiny': GDRIVE.format('1eFv5SsGr6ZpupY0wB-N2mjVhQLSo92o-'),
                        'large': GDRIVE.format('1aIEnq_5-oS8jiLr2W8ryLabmzHTmR3J0')}),
        ModelFamily('repmlp', RepMLPNet, 'vmlp_mm.converters.repmlp', paper='2112.11081',
                    code='https://github.com/DingXiaoH/RepMLP', weights={
                        't224': GDRIVE.format('1TgPDD78G-d3h_Y_vNTuqYdSJZHmnju7b'),
                        'b224': GDRIVE.format('1GwoUvxGXgzKArlCf0V9kvc9_3GtkGltp'),
                        't256': GDRIVE.format('1mU0L76x20eAKzkHxEM7J2BvEOLWx_mux'),
                        'b256': GDRIVE.format('1W-__gXE7903cX-gOSXEGxNBCJjvqFCiJ'),
                        'd256': GDRIVE.format('1e5IYac0UHnJq2_lzbuE7J4rahMENX2ha'),
                        'l256': GDRIVE.format('1SHhNJ6pZax9qMLm8DJZtQ_XfmcmddPYU')},
                    eval_crop_pct=1.0, eval_interpolation='bilinear'),
        ModelFamily('posmlp', PosMLP, 'vmlp_mm.converters.posmlp', paper='2207.07284',
                    code='https://github.com/Zhicaiwww/PosMLP', weights={
                        'tiny': GDRIVE.format('1wl0JzFqmdbhRAp2WEgl0dVFW5jnoS6bM')},
                    eval_crop_pct=224 / 248),
        ModelFamily('stripmlp', StripMLP, 'vmlp_mm.converters.stripmlp', paper='2307.11458',
                    code='https://github.com/Med-Process/Strip_MLP', weights={
                        'tiny_light': BAIDU.format('15SQy1MxY5RQlybNVpuFQcg?pwd=1234'),
                        'tiny': BAIDU.format('1mUDavm3Y8pmW8p7QmypnNQ?pwd=1234'),
                        'small': BAIDU.format('1uXoPzrhptbA8FBuQcaOrVg?pwd=1234'),
                        'base': BAIDU.format('1t4iQuMqUR8yfAO0kRS1EFg?pwd=1234')}),
):
    register_family(_family)
