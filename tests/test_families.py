"""The family list: each backbone is one entry, which every generic path picks up."""
import os
import subprocess
import sys

import pytest

from vmlp_mm.families import ModelFamily, get_family, register_family


def test_a_sixth_family_takes_one_entry(repo_root):
    """tests/toy_family.py -- a backbone, a converter and one ModelFamily entry -- registered in a
    child pytest run goes through the generic contract, mixed-precision, timm and converter tests
    (the parent's family list never holds it)."""
    generic = ['tests/test_backbones/test_contract.py',
               'tests/test_backbones/test_backbones_mixed_precision.py', 'tests/test_timm.py',
               'tests/test_converters/test_converters.py']
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', *generic,
         '-k', 'ToyMLP or toymlp'],
        cwd=repo_root, capture_output=True, text=True, env=dict(os.environ, VMLP_TOY_FAMILY='1'))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(summary.split(' passed')[0].split()[-1])
    assert passed >= 16 and 'failed' not in summary, summary  # 10 + 4 + 1 + 1


def test_names_and_errors():
    family = get_family('repmlp')
    assert family.backbone.__name__ == 'RepMLPNet'
    assert family.demo_config('segmentation') == (
        'configs/demo/upernet_repmlp-nano_demo-shapes-ade.py')
    assert family.official_archs == ['t224', 'b224', 't256', 'b256', 'd256', 'l256']
    with pytest.raises(KeyError, match='unknown model family'):
        get_family('repmlpnet')
    with pytest.raises(ValueError, match='exists already'):
        register_family(ModelFamily('msmlp', family.backbone, family.converter))


def test_aliases_resolve_to_the_canonical_arch():
    msmlp = get_family('msmlp').backbone
    assert msmlp.canonical_arch('T') == 'tiny'
    assert msmlp('t', gap_before_final_norm=False).arch_settings == msmlp.arch_zoo['tiny']
    with pytest.raises(ValueError, match=r"aliases, t=tiny"):
        msmlp.canonical_arch('huge')
