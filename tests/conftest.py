import os
import sys

import pytest

SLOW_LEFT = pytest.StashKey[int]()
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


# -- test tiers: `make test` runs `pytest --quick`, `make test-all` everything ------------------
def pytest_addoption(parser):
    parser.addoption('--quick', action='store_true',
                     help='the quick tier (make test): leave tests marked slow to make test-all')


def pytest_collection_modifyitems(config, items):
    if not config.getoption('--quick'):
        return
    slow = [item for item in items if item.get_closest_marker('slow')]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker('slow')]
    config.stash[SLOW_LEFT] = len(slow)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if SLOW_LEFT in config.stash:
        terminalreporter.write_sep(
            '-', f'quick tier: {config.stash[SLOW_LEFT]} slow tests left to `make test-all`',
            yellow=True)
