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
from dataclasses import dataclass
from types import ModuleType
from typing import Dict, List, Optional, Type

import torch.nn as nn

from .backbones import MSMLP, ActiveMLP, PosMLP, RepMLPNet, StripMLP
from .backbones.base import VisionMLPBackbone

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
    """
    name: str
    backbone: Type[VisionMLPBackbone]
    converter: str
    demo_arch: str = 'nano'

    @property
    def archs(self) -> List[str]:
        """The canonical arch names (those of the official models, then the demo's)."""
        return list(self.backbone.arch_zoo)

    @property
    def official_archs(self) -> List[str]:
        return [arch for arch in self.archs if arch != self.demo_arch]

    def load_converter(self) -> ModuleType:
        return importlib.import_module(self.converter)

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


class VisionMLPClassifier(nn.Module):
    """A backbone in its official classification setting -- pooled where the official model
    pools after its final norm -- and a linear head, with mmpretrain's parameter names
    (``backbone.*``, ``head.fc.*``): the converters' target and timm's classifiers."""

    def __init__(self, backbone: VisionMLPBackbone, num_classes: int = 1000):
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.num_features = backbone.channels[-1]
        self.head = nn.Module()
        self.head.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x):
        return self.backbone(x)[-1]

    def forward_head(self, x, pre_logits: bool = False):
        if x.dim() == 4:  # normalised map: the official models average it
            x = x.mean((2, 3))
        return x if pre_logits else self.head.fc(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:  # timm's classifier interface
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        self.head.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    @classmethod
    def of_family(cls, family: ModelFamily, arch: str, num_classes: int = 1000,
                  **backbone_kwargs) -> 'VisionMLPClassifier':
        return cls(family.backbone(arch, out_indices=-1, **backbone_kwargs), num_classes)


for _family in (
        ModelFamily('msmlp', MSMLP, 'vmlp_mm.converters.msmlp'),
        ModelFamily('activemlp', ActiveMLP, 'vmlp_mm.converters.activemlp'),
        ModelFamily('repmlp', RepMLPNet, 'vmlp_mm.converters.repmlp'),
        ModelFamily('posmlp', PosMLP, 'vmlp_mm.converters.posmlp'),
        ModelFamily('stripmlp', StripMLP, 'vmlp_mm.converters.stripmlp'),
):
    register_family(_family)
