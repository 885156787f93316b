"""Training conveniences of the seed repos, through mmengine: EMA (weights and evaluation),
gradient accumulation and activation checkpointing switched from the command line."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import DictAction

from vmlp_mm.utils.checkpoint import load_checkpoint
from vmlp_mm.utils.launch import load_config
from vmlp_testing import FAMILY_NAMES, cls_config, last_checkpoint, run_tool

SHORT = ['train_cfg.max_epochs=2', 'train_cfg.val_interval=2', 'train_dataloader.batch_size=16',
         'train_dataloader.dataset.indices=32', 'val_dataloader.dataset.indices=16',
         'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0']


def parse_options(*options):
    """``--cfg-options`` as tools/train.py parses them."""
    action = DictAction(option_strings=['--cfg-options'], dest='cfg_options')
    namespace = type('Namespace', (), {})()
    action(None, namespace, list(options))
    return namespace.cfg_options


def adamw_steps(checkpoint):
    return int(next(iter(checkpoint['optimizer']['state'].values()))['step'])


@pytest.mark.slow
def test_gradient_accumulation_switch(repo_root, demo_data, tmp_path):
    """4 iterations with ``optim_wrapper.accumulative_counts=2`` make 2 optimizer steps."""
    run_tool(repo_root, 'tools/train.py', cls_config('msmlp'), '--work-dir', str(tmp_path),
             '--cfg-options', *SHORT, 'optim_wrapper.accumulative_counts=2')
    checkpoint = load_checkpoint(last_checkpoint(str(tmp_path)))
    assert checkpoint['meta']['iter'] == 4
    assert adamw_steps(checkpoint) == 2


@pytest.mark.slow
def test_ema_weights_are_saved_and_evaluated(repo_root, demo_data, tmp_path):
    """The ActiveMLP recipe's EMAHook (momentum m): checkpoints hold the EMA weights as
    ``state_dict`` (what validation and tools/test.py load) and the raw ones apart. One
    iteration per epoch makes the update checkable: ema_2 = ema_1 + m * (raw_2 - ema_1)."""
    from mmengine.config import Config
    config = osp.join(repo_root, cls_config('activemlp'))
    momentum = Config.fromfile(config).custom_hooks[0]['momentum']
    run_tool(repo_root, 'tools/train.py', cls_config('activemlp'), '--work-dir',
             str(tmp_path), '--cfg-options', *SHORT, 'train_dataloader.dataset.indices=16',
             'default_hooks.checkpoint.interval=1')
    key = 'backbone.stages.0.blocks.0.mlp.fc1.weight'
    (ema1, raw1), (ema2, raw2) = [
        (c['state_dict'][key], c['ema_state_dict']['module.' + key]) for c in (
            load_checkpoint(str(tmp_path / f'epoch_{e}.pth')) for e in (1, 2))]
    torch.testing.assert_close(ema1, raw1)  # the first update copies the weights
    assert not torch.allclose(ema2, raw2)
    torch.testing.assert_close(ema2, ema1 + momentum * (raw2 - ema1))
    result = subprocess.run([sys.executable, 'tools/test.py', cls_config('activemlp'),
                             str(tmp_path / 'epoch_2.pth'), '--work-dir', str(tmp_path / 't'),
                             '--cfg-options', 'test_dataloader.dataset.indices=16'],
                            cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0 and 'accuracy/top1' in result.stdout + result.stderr


@pytest.mark.parametrize('model', FAMILY_NAMES)
def test_activation_checkpointing_switch(repo_root, model, monkeypatch):
    """``--cfg-options model.backbone.with_cp=True`` makes every block run under
    torch.utils.checkpoint (and nothing else changes)."""
    import torch.utils.checkpoint as checkpoint
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    calls = []
    original = checkpoint.checkpoint

    def counting(function, *args, **kwargs):
        calls.append(function)
        return original(function, *args, **kwargs)

    monkeypatch.setattr(checkpoint, 'checkpoint', counting)
    init_default_scope('mmpretrain')
    config = osp.join(repo_root, cls_config(model))
    for switch, expected in (('False', 0), ('True', None)):
        calls.clear()
        cfg = load_config(config, parse_options(f'model.backbone.with_cp={switch}'), 'none')
        classifier = MODELS.build(cfg.model).train()
        features = classifier.extract_feat(torch.randn(2, 3, 64, 64))
        sum(f.sum() for f in features).backward()
        blocks = sum(classifier.backbone.depths)
        assert len(calls) == (expected if expected is not None else blocks)
