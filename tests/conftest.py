import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), 'shared')
sys.path.insert(0, ROOT)


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def official_keys_dir():
    path = os.environ.get('VMLP_OFFICIAL_KEYS', os.path.join(SHARED, 'reference', 'official_keys'))
    if not os.path.isdir(path):
        pytest.skip(f'no official key manifests at {path} (set VMLP_OFFICIAL_KEYS)')
    return path


@pytest.fixture(scope='session')
def demo_data(repo_root, tmp_path_factory):
    """The demo datasets, made once per session (reused from data/demo when already there)."""
    from vmlp_mm.datasets.demo_data import make_demo_data
    return make_demo_data(os.path.join(repo_root, 'data', 'demo'))
