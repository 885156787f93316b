"""A config's model for the analysis and export tools (FLOPs, throughput, ONNX,
re-parameterisation): built without its pretrained initialisation, in the config's scope."""
from typing import Tuple

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

# input size per task when the tools are given none: the ImageNet, ADE20K and COCO test sizes
DEFAULT_SHAPES = {'mmpretrain': (224, 224), 'mmseg': (512, 512), 'mmdet': (800, 1216)}


def build_config_model(cfg: Config, **backbone_overrides) -> torch.nn.Module:
    """The model of ``cfg`` in eval mode, with random weights (no ``init_cfg=Pretrained`` or
    ``pretrained`` load), ``backbone_overrides`` applied (e.g. ``deploy=True``)."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model.copy()
    model_cfg.backbone = dict(model_cfg.backbone, init_cfg=None, **backbone_overrides)
    model_cfg.pop('pretrained', None)
    return MODELS.build(model_cfg).eval()


def default_shape(cfg: Config) -> Tuple[int, int]:
    return DEFAULT_SHAPES.get(cfg.get('default_scope'), (224, 224))


class TensorForward(torch.nn.Module):
    """A model's tensor forward on one batch of fixed-size images: a classifier's or segmentor's
    logits, a detector's full two-stage forward (whose heads read the image shape from data
    samples, made here)."""

    def __init__(self, model: torch.nn.Module, shape: Tuple[int, int]):
        super().__init__()
        self.model = model
        self.data_samples = None
        if type(model).__module__.startswith('mmdet.'):
            from mmdet.structures import DetDataSample
            self.data_samples = [DetDataSample(metainfo=dict(
                img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape,
                scale_factor=(1., 1.)))]

    def forward(self, x: torch.Tensor):
        return self.model(x, self.data_samples, mode='tensor')
