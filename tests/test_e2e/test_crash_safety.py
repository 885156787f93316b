"""A crash costs at most the work since the last checkpoint: a SIGKILL in the middle of a save,
a truncated latest checkpoint, and the bit-identity of a resumed run."""
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from vmlp_mm.utils.checkpoint import load_checkpoint
from vmlp_testing import cls_config, last_checkpoint, run_tool

SHORT = ['train_dataloader.dataset.indices=16', 'val_dataloader.dataset.indices=8',
         'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
         'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=1',
         'randomness.seed=0', 'train_cfg.val_interval=10']

# tools/train.py, except that the N-th checkpoint write stops halfway with a real SIGKILL
KILLED_DURING_SAVE = '''
import os, runpy, signal, sys
from mmengine.fileio.backends import LocalBackend
put, count = LocalBackend.put, [0]
def put_then_die(self, obj, filepath):
    if str(filepath).endswith(('.pth', '.pth.partial')):
        count[0] += 1
        if count[0] == int(os.environ['KILL_AT_SAVE']):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
    return put(self, obj, filepath)
LocalBackend.put = put_then_die
sys.argv = ['tools/train.py', *sys.argv[1:]]
runpy.run_path('tools/train.py', run_name='__main__')
'''


def train(repo_root, work_dir, epochs, *flags, options=()):
    return run_tool(repo_root, 'tools/train.py', cls_config('msmlp'), '--work-dir',
                    work_dir, *flags, '--cfg-options', *SHORT, f'train_cfg.max_epochs={epochs}',
                    *options)


def weights(path):
    return load_checkpoint(path)['state_dict']


@pytest.fixture(scope='module')
def straight_run(repo_root, demo_data, tmp_path_factory):
    """Two epochs without a crash, both checkpoints kept: the reference of the bit-identity test
    and the run whose latest checkpoint the truncation test damages (in a copy)."""
    work_dir = str(tmp_path_factory.mktemp('straight'))
    train(repo_root, work_dir, 2, options=['default_hooks.checkpoint.max_keep_ckpts=2'])
    return work_dir


@pytest.mark.slow
def test_sigkill_during_a_save_keeps_the_last_checkpoint_and_resumes_bit_identically(
        repo_root, straight_run, tmp_path):
    crashed = str(tmp_path / 'crashed')
    script = tmp_path / 'killed_during_save.py'
    script.write_text(KILLED_DURING_SAVE)
    result = subprocess.run(
        [sys.executable, str(script), cls_config('msmlp'), '--work-dir', crashed,
         '--cfg-options', *SHORT, 'train_cfg.max_epochs=2'],
        cwd=repo_root, capture_output=True, text=True, env=dict(os.environ, KILL_AT_SAVE='2'))
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    # max_keep_ckpts=1, killed while writing epoch 2: epoch 1 is still there, whole, and named
    assert last_checkpoint(crashed).endswith('epoch_1.pth')
    assert not osp.exists(osp.join(crashed, 'epoch_2.pth'))
    load_checkpoint(last_checkpoint(crashed))

    resumed = train(repo_root, crashed, 2, '--resume')
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 1' in log
    assert last_checkpoint(crashed).endswith('epoch_2.pth')
    assert sorted(f for f in os.listdir(crashed) if 'pth' in f) == ['epoch_2.pth']  # no partials
    a = weights(osp.join(straight_run, 'epoch_2.pth'))
    b = weights(osp.join(crashed, 'epoch_2.pth'))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_resume_skips_a_truncated_latest_checkpoint(repo_root, straight_run, tmp_path):
    work_dir = str(tmp_path / 'run')
    shutil.copytree(straight_run, work_dir)
    # the copied last_checkpoint names the original's file: point it at the copy
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'epoch_2.pth'))
    latest = osp.join(work_dir, 'epoch_2.pth')
    data = open(latest, 'rb').read()
    with open(latest, 'wb') as f:
        f.write(data[:len(data) // 3])
    result = train(repo_root, work_dir, 3, '--resume',
                   options=['default_hooks.checkpoint.max_keep_ckpts=2'])
    log = result.stdout + result.stderr
    assert f'--resume: skipped {latest} is truncated or damaged' in log
    assert 'resumed epoch: 1' in log
    assert last_checkpoint(work_dir).endswith('epoch_3.pth')
