"""No tool overwrites what it did not create: an existing output needs --force, and an input is
never an output, whatever path names it."""
import os
import subprocess
import sys

import pytest

from vmlp_mm.utils.outputs import OutputExistsError, check_output


@pytest.fixture
def files(tmp_path):
    (tmp_path / 'input.pth').write_bytes(b'input')
    (tmp_path / 'old.pth').write_bytes(b'old')
    (tmp_path / 'folder').mkdir()
    os.symlink(tmp_path / 'input.pth', tmp_path / 'link.pth')
    os.link(tmp_path / 'input.pth', tmp_path / 'hard.pth')
    return tmp_path


def test_new_outputs_are_allowed(files):
    check_output(str(files / 'new.pth'), [str(files / 'input.pth')])


def test_existing_outputs_need_force(files):
    with pytest.raises(OutputExistsError, match='old.pth exists .*pass --force to replace it'):
        check_output(str(files / 'old.pth'), [str(files / 'input.pth')])
    check_output(str(files / 'old.pth'), [str(files / 'input.pth')], force=True)


@pytest.mark.parametrize('spelling', [
    'input.pth', './input.pth', 'folder/../input.pth', 'link.pth', 'hard.pth'],
    ids=['same', 'dot', 'dotdot', 'symlink', 'hard link'])
@pytest.mark.parametrize('force', [False, True], ids=['plain', 'force'])
def test_an_input_is_never_an_output(files, spelling, force, monkeypatch):
    monkeypatch.chdir(files)
    with pytest.raises(OutputExistsError, match='is the input .*not even with --force'):
        check_output(spelling, ['input.pth'], force=force)


def test_outputs_inside_an_input_folder_are_refused(files):
    with pytest.raises(OutputExistsError, match='or inside it'):
        check_output(str(files / 'folder' / 'out.zip'), [str(files / 'folder')], force=True)


TOOLS = {  # argv whose output OUT exists: the tool must stop before writing it
    'converter': ['tools/model_converters/msmlp_to_vmlp.py', '{IN}', '{OUT}'],
    'reparameterize': ['tools/model_converters/reparameterize.py',
                       'configs/demo/repmlp-nano_demo-digits.py', '{IN}', '{OUT}'],
    'export_onnx': ['tools/deploy/export_onnx.py', 'configs/demo/msmlp-nano_demo-digits.py',
                    '{OUT}'],
    'plot_logs': ['tools/analysis/plot_logs.py', '{IN}', '--out', '{OUT}'],
    'split_caltech101': ['tools/dataset_converters/split_caltech101.py', '{DIR}', '{OUTDIR}'],
    'folder_to_zip': ['tools/dataset_converters/folder_to_zip.py', '{DIR}', '{OUTDIR}',
                      '--splits', 'train'],
}


@pytest.mark.parametrize('argv', TOOLS.values(), ids=TOOLS.keys())
def test_tools_refuse_to_overwrite(repo_root, tmp_path, argv):
    paths = dict(IN=tmp_path / 'in.pth', OUT=tmp_path / 'out.pth', DIR=tmp_path / 'data',
                 OUTDIR=tmp_path / 'outdir')
    paths['IN'].write_bytes(b'input')
    paths['OUT'].write_bytes(b'precious')
    (paths['DIR'] / 'train' / 'a').mkdir(parents=True)
    paths['OUTDIR'].mkdir()
    (paths['OUTDIR'] / 'train.zip').write_bytes(b'precious')
    result = subprocess.run([sys.executable, *[a.format(**paths) for a in argv]], cwd=repo_root,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert 'exists' in result.stderr and 'pick another path' in result.stderr, result.stderr[-999:]
    assert paths['OUT'].read_bytes() == b'precious'
    assert (paths['OUTDIR'] / 'train.zip').read_bytes() == b'precious'
