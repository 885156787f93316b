"""The tools under faults, end to end: nothing that exists is overwritten, a resume continues from
the newest intact checkpoint, a checkpoint that does not fit or diverged is refused, bad images
are named (and skipped by inference), and every expected failure ends in one line."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from vmlp_mm.utils.checkpoint import load_checkpoint
from vmlp_mm.utils.config_model import build_config_model
from vmlp_testing import cls_config, last_checkpoint, run_tool, seg_config

FEW = ['test_dataloader.dataset.indices=4', 'test_dataloader.num_workers=0']
SHORT = ['train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=16',
         'val_dataloader.dataset.indices=4', 'train_dataloader.num_workers=0',
         'val_dataloader.num_workers=0']


def fails(repo_root, *args):
    """Run a tool that must fail; returns its one-line message (asserted to be one line)."""
    result = subprocess.run([sys.executable, *args], cwd=repo_root, capture_output=True,
                            text=True)
    assert result.returncode == 1, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and last.endswith('shows the trace)'), last
    return last


@pytest.fixture(scope='module')
def checkpoint(repo_root, tmp_path_factory):
    """Random weights of the MS-MLP digits model, saved as tools/train.py would."""
    torch.manual_seed(0)
    model = build_config_model(Config.fromfile(osp.join(repo_root, cls_config('msmlp'))))
    path = str(tmp_path_factory.mktemp('ckpt') / 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


# -- outputs ---------------------------------------------------------------------------------------
def test_test_refuses_existing_outputs_before_evaluating(repo_root, demo_data, checkpoint,
                                                         tmp_path):
    metrics = tmp_path / 'metrics.json'
    metrics.write_text('{"mine": 1}')
    line = fails(repo_root, 'tools/test.py', cls_config('msmlp'), checkpoint, '--work-dir',
                 str(tmp_path / 'w'), '--out-metrics', str(metrics))
    assert f'--out-metrics {metrics} exists (file); pick another path, or pass --force' in line
    line = fails(repo_root, 'tools/test.py', cls_config('msmlp'), checkpoint, '--work-dir',
                 str(tmp_path / 'w'), '--out-metrics', checkpoint, '--force')
    assert 'is the input' in line and 'not even with --force' in line
    assert metrics.read_text() == '{"mine": 1}'


def test_train_refuses_a_work_dir_holding_a_previous_run(repo_root, tmp_path):
    (tmp_path / 'epoch_8.pth').write_bytes(b'a previous run')
    line = fails(repo_root, 'tools/train.py', cls_config('msmlp'), '--work-dir', str(tmp_path))
    assert 'holds a previous run (epoch_8.pth): pass --resume to continue it' in line
    assert '--force to start over' in line
    (tmp_path / 'file').write_text('x')
    line = fails(repo_root, 'tools/train.py', cls_config('msmlp'), '--work-dir',
                 str(tmp_path / 'file'))
    assert 'is a file, not a folder' in line


@pytest.mark.slow
def test_forced_outputs_are_replaced_whole_and_only_after_the_run(repo_root, demo_data,
                                                                  checkpoint, tmp_path):
    metrics, maps = tmp_path / 'metrics.json', tmp_path / 'maps'
    metrics.write_text('old')
    run_tool(repo_root, 'tools/test.py', cls_config('msmlp'), checkpoint, '--work-dir',
             str(tmp_path / 'w'), '--out-metrics', str(metrics), '--force', '--cfg-options', *FEW)
    assert 'accuracy/top1' in json.loads(metrics.read_text())
    maps.mkdir()
    (maps / 'notes.txt').write_text('mine')
    seg_checkpoint = str(tmp_path / 'seg.pth')
    model = build_config_model(Config.fromfile(osp.join(repo_root, seg_config('msmlp'))))
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, seg_checkpoint)
    line = fails(repo_root, 'tools/test.py', seg_config('msmlp'), seg_checkpoint, '--work-dir',
                 str(tmp_path / 'w'), '--out', str(maps))
    assert 'holds 1 entries (notes.txt); pick another path, or pass --force' in line
    run_tool(repo_root, 'tools/test.py', seg_config('msmlp'), seg_checkpoint, '--work-dir',
             str(tmp_path / 'w'), '--out', str(maps), '--force', '--cfg-options',
             'test_dataloader.dataset.indices=2')
    assert len(os.listdir(maps)) == 2 and 'notes.txt' not in os.listdir(maps)
    assert not [n for n in os.listdir(tmp_path) if 'partial' in n]


# -- checkpoints -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_inference_refuses_checkpoints_that_do_not_fit_or_diverged(repo_root, demo_data,
                                                                   checkpoint, tmp_path):
    images = osp.join(demo_data, 'digits', 'val', '3')
    line = fails(repo_root, 'tools/inference.py', 'configs/demo/activemlp-nano_demo-digits.py',
                 checkpoint, images, '--out-dir', str(tmp_path / 'a'))
    assert 'the checkpoint does not fit the model of the config: missing' in line
    state = torch.load(checkpoint)
    key = next(iter(state['state_dict']))
    state['state_dict'][key] = torch.full_like(state['state_dict'][key], float('nan'))
    torch.save(state, tmp_path / 'nan.pth')
    line = fails(repo_root, 'tools/inference.py', cls_config('msmlp'), str(tmp_path / 'nan.pth'),
                 images, '--out-dir', str(tmp_path / 'b'))
    assert f'holds non-finite weights (NaN or inf) in 1 tensors: {key}' in line
    assert not osp.exists(tmp_path / 'a') and not osp.exists(tmp_path / 'b')


@pytest.mark.slow
def test_resume_continues_from_the_newest_intact_checkpoint(repo_root, demo_data, tmp_path):
    options = [*SHORT, 'default_hooks.checkpoint.interval=1',
               'default_hooks.checkpoint.max_keep_ckpts=3']
    run_tool(repo_root, 'tools/train.py', cls_config('msmlp'), '--work-dir', str(tmp_path),
             '--cfg-options', *options, 'train_cfg.max_epochs=2')
    first = str(tmp_path / 'epoch_1.pth')
    (tmp_path / 'last_checkpoint').write_text(first)  # as if killed before the pointer moved
    result = run_tool(repo_root, 'tools/train.py', cls_config('msmlp'), '--work-dir',
                      str(tmp_path), '--resume', '--cfg-options', *options,
                      'train_cfg.max_epochs=3')
    assert (f'--resume: continuing from {tmp_path}/epoch_2.pth, the newest intact checkpoint, '
            f'not from {first} named by last_checkpoint (older') in result.stdout
    assert last_checkpoint(str(tmp_path)).endswith('epoch_3.pth')
    torch.save(load_checkpoint(first)['state_dict'], tmp_path / 'weights.pth')
    line = fails(repo_root, 'tools/train.py', cls_config('msmlp'), '--work-dir',
                 str(tmp_path / 'new'), '--resume', str(tmp_path / 'weights.pth'),
                 '--cfg-options', *SHORT)
    assert 'holds weights only (no training state' in line and 'load_from=' in line


# -- data ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_bad_images_are_named_in_training_and_skipped_by_inference(repo_root, demo_data,
                                                                   checkpoint, tmp_path):
    root = tmp_path / 'digits'
    for split in ('train', 'val'):
        for label in range(10):
            folder = root / split / str(label)
            folder.mkdir(parents=True)
            source = osp.join(demo_data, 'digits', split, str(label))
            for name in sorted(os.listdir(source))[:2]:
                shutil.copy(osp.join(source, name), folder)
    bad = sorted((root / 'train' / '6').iterdir())[0]
    bad.write_bytes(bad.read_bytes()[:100])
    data = [f'{loader}.dataset.data_root={root}' for loader in ('train_dataloader',
                                                                 'val_dataloader')]
    args = ['tools/train.py', cls_config('msmlp'), '--work-dir', str(tmp_path / 'w'),
            '--cfg-options', *data, 'train_cfg.max_epochs=1', 'train_dataloader.num_workers=0',
            'val_dataloader.num_workers=0']
    line = fails(repo_root, *args)
    assert f'1 unreadable images: {bad} cannot be decoded' in line
    result = run_tool(repo_root, *args[:4], '--skip-bad-samples', *args[4:])
    assert 'left out (--skip-bad-samples)' in result.stdout
    out = tmp_path / 'out'
    result = run_tool(repo_root, 'tools/inference.py', cls_config('msmlp'), checkpoint,
                      str(bad.parent), '--out-dir', str(out))
    assert f'{bad}: skipped, cannot be decoded' in result.stderr
    predictions = json.loads((out / 'predictions.json').read_text())
    assert predictions[bad.name] == {'skipped': predictions[bad.name]['skipped']}
    assert len([p for p in os.listdir(out) if p.endswith('.png')]) == 1
