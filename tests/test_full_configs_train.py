"""What users run: the model of every full-scale segmentation and detection config, one training
step at the config's own crop (segmentation, batch 2) or largest training scale (detection,
batch 1), CPU, random initialisation. The loss and every gradient must be finite.

The nano demo models cannot stand in for these: PosMLP-T produced NaN at 512x512, the crop of its
own UperNet config, while every nano test passed. Configs whose model and input size equal an
earlier one's (the 1x and 3x detection schedules of one backbone) share its result.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from vmlp_mm.utils.config_model import build_config_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow  # full-scale models at their own sizes (make test-all)

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'segmentation', '*', '*.py')) +
                 glob.glob(osp.join(ROOT, 'configs', 'detection', '*', '*.py')))
DONE = {}


def largest_train_scale(cfg: Config):
    """(H, W) of the largest image the detection training pipeline produces, padded to 32."""
    scales = []

    def visit(node):
        if isinstance(node, dict):
            for key in ('scale', 'scales'):
                value = node.get(key)
                if isinstance(value, tuple) and len(value) == 2 and all(
                        isinstance(v, int) for v in value):
                    scales.append(value)
                elif isinstance(value, (list, tuple)):
                    scales.extend(v for v in value if isinstance(v, tuple) and len(v) == 2)
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    visit(cfg.train_pipeline if 'train_pipeline' in cfg else cfg.train_dataloader)
    long_side, short_side = max(max(s) for s in scales), max(min(s) for s in scales)
    return -(-short_side // 32) * 32, -(-long_side // 32) * 32


def seg_batch(model, size, batch=2):
    """Batch 2, the configs' images per GPU: UperNet's pyramid pooling normalises 1x1 maps with
    BatchNorm, which needs more than one value per channel."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(batch):
        sample = SegDataSample(metainfo=dict(img_shape=size, pad_shape=size, ori_shape=size,
                                             batch_input_shape=size))
        labels = torch.randint(0, model.decode_head.num_classes, (1, *size))
        labels[:, :size[0] // 8] = 255  # some ignored pixels, as in ADE20K
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return torch.randn(batch, 3, *size), samples


def det_batch(size):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(batch_size=1, image_shapes=[(3, *size)], num_items=[3],
                            num_classes=80, with_mask=True)
    sample = packed['data_samples'][0]
    sample.set_metainfo(dict(pad_shape=size, batch_input_shape=size))
    return packed['inputs'][0][None].float(), [sample]


@pytest.mark.parametrize('config', CONFIGS, ids=[osp.relpath(c, ROOT) for c in CONFIGS])
def test_one_training_step_at_the_config_size_is_finite(config):
    cfg = Config.fromfile(config)
    is_det = cfg.default_scope == 'mmdet'
    size = largest_train_scale(cfg) if is_det else tuple(cfg.crop_size)
    key = (repr(cfg.model.to_dict()), size)
    if key in DONE:
        pytest.skip(f'same model and size as {DONE[key]}, tested there')
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = build_config_model(cfg).train()
    inputs, samples = det_batch(size) if is_det else seg_batch(model, size)
    # the data preprocessor normalises uint8-range pixels; random normals stand for a whitened image
    losses = model(inputs, samples, mode='loss')
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k and isinstance(v, torch.Tensor)) \
        + sum(sum(x.sum() for x in v) for k, v in losses.items()
              if 'loss' in k and isinstance(v, (list, tuple)))
    assert torch.isfinite(total), {k: v for k, v in losses.items() if 'loss' in k}
    total.backward()
    bad = [name for name, p in model.named_parameters()
           if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f'non-finite gradients in {bad[:5]}'
    assert any(p.grad is not None for p in model.backbone.parameters())
    DONE[key] = osp.relpath(config, ROOT)
