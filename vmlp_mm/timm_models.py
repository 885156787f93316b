"""The vmlp_mm backbones as timm models: ``timm.create_model('vmlp_<model>_<arch>')``.

    import vmlp_mm.timm_models  # registers the models (timm is not imported by ``import vmlp_mm``)
    model = timm.create_model('vmlp_activemlp_tiny', num_classes=100)
    features = timm.create_model('vmlp_repmlp_t224', features_only=True, out_indices=(1, 2, 3))

Classifiers are the official ones (the backbone's classification setting, global average pooling
where the official model pools after its final norm, a linear head); their state dict uses the
mmpretrain names (``backbone.*``, ``head.fc.*``), so vmlp_mm classification checkpoints (from
tools/train.py or the converters) load with ``checkpoint_path=``. ``features_only=True`` gives
the backbone's dense outputs (strides 4/8/16/32) as a list, with timm's ``feature_info``.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from timm.models import register_model
from timm.models._features import FeatureInfo

from .backbones import MSMLP, ActiveMLP, PosMLP, RepMLPNet, StripMLP

# model name -> backbone class and the arch names registered as vmlp_<model>_<arch>
TIMM_MODELS = {
    'msmlp': (MSMLP, ['tiny', 'small', 'base', 'nano']),
    'activemlp': (ActiveMLP, ['xtiny', 'tiny', 'small', 'base', 'large', 'nano']),
    'posmlp': (PosMLP, ['tiny', 'small', 'nano']),
    'stripmlp': (StripMLP, ['tiny_light', 'tiny', 'small', 'base', 'nano']),
    'repmlp': (RepMLPNet, ['t224', 'b224', 't256', 'b256', 'd256', 'l256', 'nano']),
}


class VisionMLPClassifier(nn.Module):
    """A backbone in its classification setting, average pooling where needed, a linear head."""

    def __init__(self, backbone: nn.Module, num_classes: int = 1000):
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.num_features = backbone.channels[-1]
        self.head = nn.Module()
        self.head.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)[-1]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if x.dim() == 4:  # normalised map: the official models average it
            x = x.mean((2, 3))
        return x if pre_logits else self.head.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        self.head.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


class VisionMLPFeatures(nn.Module):
    """The backbone's dense outputs as a list (timm's ``features_only``)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        info = [dict(num_chs=c, reduction=4 * 2**i, module=f'backbone.stages.{i}')
                for i, c in enumerate(backbone.channels)]
        self.feature_info = FeatureInfo(info, backbone.out_indices)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return list(self.backbone(x))


def _create(cls, arch: str, pretrained: bool = False, num_classes: int = 1000,
            features_only: bool = False, out_indices: Sequence[int] = (0, 1, 2, 3),
            in_chans: int = 3, **kwargs) -> nn.Module:
    if pretrained:
        raise ValueError('vmlp_mm models have no download URLs: convert the official weights '
                         '(tools/model_converters/) and pass checkpoint_path=... instead')
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kwargs.pop('pretrained_cfg', None)
    kwargs.pop('pretrained_cfg_overlay', None)
    kwargs.pop('cache_dir', None)
    if features_only:
        backbone = cls(arch, in_channels=in_chans, out_indices=tuple(out_indices),
                       gap_before_final_norm=False, **kwargs)
        return VisionMLPFeatures(backbone)
    backbone = cls(arch, in_channels=in_chans, out_indices=-1, **kwargs)
    model = VisionMLPClassifier(backbone, num_classes)
    size = backbone.pretraining_size
    model.pretrained_cfg = model.default_cfg = dict(
        num_classes=num_classes, input_size=(in_chans, size, size), pool_size=None,
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), first_conv=None,
        classifier='head.fc', architecture=f'vmlp_{cls.__name__.lower()}_{arch}')
    return model


def _register(model: str, cls, arch: str) -> None:
    name = f'vmlp_{model}_{arch}'

    def entrypoint(pretrained: bool = False, **kwargs) -> nn.Module:
        return _create(cls, arch, pretrained=pretrained, **kwargs)

    entrypoint.__name__ = name
    entrypoint.__qualname__ = name
    entrypoint.__doc__ = f'{cls.__name__} arch {arch!r} (vmlp_mm).'
    entrypoint.__module__ = __name__
    register_model(entrypoint)


for _model, (_cls, _archs) in TIMM_MODELS.items():
    for _arch in _archs:
        _register(_model, _cls, _arch)
