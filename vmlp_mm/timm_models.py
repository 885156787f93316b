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
from typing import List, Sequence

import torch
import torch.nn as nn
from timm.models import register_model
from timm.models._features import FeatureInfo

from .families import FAMILIES, ModelFamily, VisionMLPClassifier


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


def _create(family: ModelFamily, arch: str, pretrained: bool = False, num_classes: int = 1000,
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
        backbone = family.backbone(arch, in_channels=in_chans, out_indices=tuple(out_indices),
                                   gap_before_final_norm=False, **kwargs)
        return VisionMLPFeatures(backbone)
    model = VisionMLPClassifier.of_family(family, arch, num_classes, in_channels=in_chans, **kwargs)
    size = model.backbone.pretraining_size
    model.pretrained_cfg = model.default_cfg = dict(
        num_classes=num_classes, input_size=(in_chans, size, size), pool_size=None,
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), first_conv=None,
        classifier='head.fc', architecture=f'vmlp_{family.name}_{arch}')
    return model


def register_family_models(family: ModelFamily) -> List[str]:
    """Register ``vmlp_<family>_<arch>`` for every canonical arch; returns the names."""
    names = []
    for arch in family.archs:
        name = f'vmlp_{family.name}_{arch}'

        def entrypoint(pretrained: bool = False, _arch: str = arch, **kwargs) -> nn.Module:
            return _create(family, _arch, pretrained=pretrained, **kwargs)

        entrypoint.__name__ = entrypoint.__qualname__ = name
        entrypoint.__doc__ = f'{family.backbone.__name__} arch {arch!r} (vmlp_mm).'
        entrypoint.__module__ = __name__
        register_model(entrypoint)
        names.append(name)
    return names


for _family in FAMILIES.values():
    register_family_models(_family)
