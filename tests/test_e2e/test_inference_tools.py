"""What an mmpretrain/mmseg/mmdet user reaches for after training: tools/test.py's upstream flags,
tools/inference.py's pictures, and our models by name in mmpretrain."""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from vmlp_mm.utils.config_model import build_config_model
from vmlp_testing import demo_config, quick_first, run_tool

IMAGES = {'classification': 'digits/val/3', 'segmentation': 'shapes_ade/images/validation',
          'detection': 'shapes_coco/val2017'}
FEW = {'classification': 'test_dataloader.dataset.indices=4',
       'segmentation': 'test_dataloader.dataset.indices=2',
       'detection': 'test_dataloader.dataset.indices=2'}


@pytest.fixture(scope='module', params=quick_first(['classification', 'segmentation', 'detection']))
def task(request):
    return request.param


@pytest.fixture(scope='module')
def checkpoint(repo_root, task, tmp_path_factory):
    """Random weights of the task's MS-MLP demo model, saved as tools/train.py would."""
    config = osp.join(repo_root, demo_config('msmlp', task))
    torch.manual_seed(0)
    model = build_config_model(Config.fromfile(config))
    path = str(tmp_path_factory.mktemp(task) / 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def test_inference_script_writes_a_picture_per_image(repo_root, demo_data, task, checkpoint,
                                                     tmp_path):
    folder = osp.join(demo_data, IMAGES[task])
    images = sorted(os.listdir(folder))[:3]
    inputs = tmp_path / 'images'
    inputs.mkdir()
    for name in images:
        os.symlink(osp.join(folder, name), inputs / name)
    out = tmp_path / 'out'
    run_tool(repo_root, 'tools/inference.py', demo_config('msmlp', task), checkpoint,
             str(inputs), '--out-dir', str(out))
    pictures = sorted(p for p in os.listdir(out) if p.endswith('.png'))
    assert pictures == sorted(osp.splitext(n)[0] + '.png' for n in images)
    assert all(os.path.getsize(out / p) > 1000 for p in pictures)
    predictions = json.loads((out / 'predictions.json').read_text())
    assert sorted(predictions) == images


def test_test_script_show_dir_and_out(repo_root, demo_data, task, checkpoint, tmp_path):
    out = tmp_path / ('predictions' if task == 'segmentation' else 'predictions.pkl')
    run_tool(repo_root, 'tools/test.py', demo_config('msmlp', task), checkpoint,
             '--work-dir', str(tmp_path / 'work'), '--show-dir', str(tmp_path / 'show'),
             '--out', str(out), '--cfg-options', FEW[task])
    pictures = [f for _, _, files in os.walk(tmp_path / 'show') for f in files
                if f.endswith(('.png', '.jpg'))]
    assert len(pictures) == int(FEW[task].split('=')[1])  # every image, not one in 50
    if task == 'segmentation':
        assert len(os.listdir(out)) == 2
    else:
        with open(out, 'rb') as f:
            assert len(pickle.load(f)) == int(FEW[task].split('=')[1])


def test_test_script_tta(repo_root, demo_data, task, checkpoint, tmp_path):
    args = ['tools/test.py', demo_config('msmlp', task), checkpoint, '--tta', '--work-dir',
            str(tmp_path), '--cfg-options', FEW[task]]
    if task != 'detection':
        run_tool(repo_root, *args)
        return
    result = subprocess.run([sys.executable, *args], cwd=repo_root, capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert 'mmdet has no test-time augmentation for instance segmentation' in result.stderr


def test_models_by_name_in_mmpretrain():
    import mmpretrain

    import vmlp_mm  # noqa: F401
    names = mmpretrain.list_models('*posmlp*')
    assert 'posmlp-tiny_in1k' in names and 'posmlp-small_in1k' in names
    model = mmpretrain.get_model('msmlp-tiny_in1k')
    assert type(model.backbone).__name__ == 'MSMLP'
    assert model.backbone.arch_settings['depths'] == [3, 3, 9, 3]
