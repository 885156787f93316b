import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

if os.environ.get('VMLP_TOY_FAMILY') == '1':  # tests/test_families.py: a sixth family, one entry
    from toy_family import TOY_FAMILY

    from vmlp_mm.families import register_family
    register_family(TOY_FAMILY)


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def official_keys_dir():
    """Key names and shapes of the official checkpoints (data, committed under tests/data)."""
    return os.environ.get('VMLP_OFFICIAL_KEYS',
                          os.path.join(ROOT, 'tests', 'data', 'official_keys'))


@pytest.fixture(scope='session')
def demo_data(repo_root, tmp_path_factory):
    """The demo datasets, made once per session (reused from data/demo when already there)."""
    from vmlp_mm.datasets.demo_data import make_demo_data
    return make_demo_data(os.path.join(repo_root, 'data', 'demo'))
