"""The model zoo files (model-index.yml, metafiles) and the log plotting tool."""
import glob
import json
import os.path as osp
import subprocess
import sys

import yaml

from vmlp_testing import ARCH_FACTS


def metafile_models(repo_root):
    with open(osp.join(repo_root, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    models = []
    for path in imports:
        with open(osp.join(repo_root, path)) as f:
            metafile = yaml.safe_load(f)
        assert osp.isfile(osp.join(repo_root, metafile['Collections'][0]['README']))
        models += metafile['Models']
    return models


def test_every_full_scale_config_is_in_the_model_index(repo_root):
    models = metafile_models(repo_root)
    names = [m['Name'] for m in models]
    assert len(names) == len(set(names))
    listed = {m['Config'] for m in models}
    assert all(osp.isfile(osp.join(repo_root, c)) for c in listed)
    configs = {osp.relpath(p, repo_root) for pattern in (
        'configs/classification/*/*_in1k*.py', 'configs/segmentation/*/*.py',
        'configs/detection/*/*.py') for p in glob.glob(osp.join(repo_root, pattern))}
    assert configs == listed


def test_metafile_params_and_flops_are_the_measured_ones(repo_root):
    facts = {(family, arch): (params, gflops) for family, arch, _, params, gflops in ARCH_FACTS}
    checked = 0
    for model in metafile_models(repo_root):
        if model['Name'].endswith('_in1k'):
            name, arch = model['Name'][:-len('_in1k')].split('-', 1)
            params, gflops = facts[(name, arch)]
            assert model['Metadata']['Parameters'] == params
            assert model['Metadata']['FLOPs'] == round(gflops * 1e9)
            checked += 1
    assert checked == len(ARCH_FACTS)


def test_plot_logs_writes_curves(repo_root, tmp_path):
    log = tmp_path / 'scalars.json'
    log.write_text('\n'.join(json.dumps(r) for r in [
        dict(loss=2.0, iter=10, step=10), dict(loss=1.5, iter=20, step=20),
        {'accuracy/top1': 60.0, 'step': 1}, dict(loss=1.0, iter=30, step=30),
        {'accuracy/top1': 80.0, 'step': 2}]))
    out = tmp_path / 'curves.png'
    subprocess.run([sys.executable, 'tools/analysis/plot_logs.py', str(log), '--keys', 'loss',
                    'accuracy/top1', '--out', str(out)], cwd=repo_root, check=True,
                   capture_output=True)
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
