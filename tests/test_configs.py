"""Every full-scale config parses, inherits its upstream base and builds its model."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*', '*', '*.py')))


def build_model(cfg):
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
    elif cfg.default_scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmdet.registry import MODELS
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('path', [c for c in CONFIGS if '/demo/' not in c],
                         ids=lambda p: osp.relpath(p, ROOT))
def test_full_scale_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.type.startswith('vmlp_mm.')
    model = build_model(cfg)
    backbone = model.backbone
    if cfg.default_scope != 'mmpretrain':
        # dense settings load the classifier through init_cfg, never model.pretrained
        assert cfg.model.get('pretrained') is None
        assert backbone.init_cfg['type'] == 'Pretrained'
        assert backbone.init_cfg['prefix'] == 'backbone.'
        assert not backbone.gap_before_final_norm and backbone.out_indices == (0, 1, 2, 3)
    with torch.no_grad():
        outs = backbone.eval()(torch.randn(1, 3, 64, 96))
    assert len(outs) == len(backbone.out_indices)


def test_classification_recipe_is_the_official_one():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/classification/msmlp/msmlp-tiny_8xb128_in1k.py'))
    assert cfg.train_dataloader.batch_size == 128
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(5e-4 * 1024 / 512)
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.clip_grad.max_norm == 5.0
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.param_scheduler[0].end == 20
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.model.head.loss.label_smooth_val == 0.1
    assert [a.type for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']


def test_layer_decay_constructor():
    from vmlp_mm.backbones import MSMLP
    from vmlp_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS

    class Classifier(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = MSMLP('nano')
            self.head = torch.nn.Linear(256, 10)

    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='vmlp_mm.LayerDecayOptimWrapperConstructor',
        optim_wrapper_cfg=dict(type='OptimWrapper',
                               optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        paramwise_cfg=dict(layer_decay_rate=0.5, norm_decay_mult=0.)))
    model = Classifier()
    optimizer = constructor(model).optimizer
    lr_of = {id(g['params'][0]): (g['lr'], g['weight_decay']) for g in optimizer.param_groups}
    num_layers = sum(model.backbone.depths) + 2  # 7
    assert lr_of[id(model.backbone.patch_embed.proj.weight)] == (
        pytest.approx(1e-3 * 0.5**(num_layers - 1)), 0.05)
    assert lr_of[id(model.backbone.stages[0].blocks[0].norm.weight)] == (
        pytest.approx(1e-3 * 0.5**(num_layers - 2)), 0.)
    assert lr_of[id(model.head.weight)][0] == pytest.approx(1e-3)
    with pytest.raises(ValueError, match='layer_decay_rate'):
        OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='vmlp_mm.LayerDecayOptimWrapperConstructor',
            optim_wrapper_cfg=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))))
