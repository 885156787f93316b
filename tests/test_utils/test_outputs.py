"""No tool overwrites what it did not create: an existing output needs --force, and an input is
never an output, whatever path names it."""
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vmlp_mm.utils.outputs import (
    OutputExistsError,
    OutputWriteError,
    check_output,
    check_output_folder,
    check_work_dir,
    claim_work_dir,
    folder_written_atomically,
    written_atomically,
)


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


# -- folders, failed writes, work dirs -------------------------------------------------------------
def test_a_folder_with_files_needs_force_and_is_then_replaced_whole(tmp_path):
    folder = tmp_path / 'maps'
    folder.mkdir()
    (folder / 'mine.txt').write_text('mine')
    with pytest.raises(OutputExistsError, match=r'maps exists and holds 1 entries \(mine.txt\); '
                       'pick another path, or pass --force'):
        check_output_folder(str(folder))
    check_output_folder(str(folder), force=True)
    with folder_written_atomically(str(folder)) as staging:
        (Path(staging) / 'new.png').write_text('new')
        assert (folder / 'mine.txt').exists()  # untouched until the run is complete
    assert sorted(os.listdir(folder)) == ['new.png']
    assert sorted(os.listdir(tmp_path)) == ['maps']


def test_a_failed_write_leaves_nothing_and_says_why_and_how_much(tmp_path):
    target = tmp_path / 'out.pth'
    target.write_text('old')
    with pytest.raises(OutputWriteError, match=r'cannot write \S+out.pth: No space left on device '
                       r'\(it needs about 1.0 GiB, .* free there\); free some space'):
        with written_atomically(str(target), needed=2**30) as partial:
            Path(partial).write_text('half')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert target.read_text() == 'old' and os.listdir(tmp_path) == ['out.pth']


def test_a_checkpoint_save_over_the_file_size_limit_names_the_limit(tmp_path):
    # torch.save reports the failed write as a RuntimeError; it is named as the OSError it is
    script = ('import resource, signal, torch;'
              'from vmlp_mm.utils.checkpoint import save_atomically;'
              'signal.signal(signal.SIGXFSZ, signal.SIG_IGN);'
              'resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000));'
              f'save_atomically({{"w": torch.zeros(10**6)}}, "{tmp_path}/big.pth")')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True)
    assert 'OutputWriteError' in result.stderr
    assert 'File too large (it needs about 3.8 MiB' in result.stderr, result.stderr[-2000:]
    assert os.listdir(tmp_path) == []


def test_work_dirs_that_are_files_or_hold_a_previous_run(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(OutputWriteError, match='file is a file, not a folder; pick another'):
        check_work_dir(str(tmp_path / 'file'))
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'epoch_3.pth').write_bytes(b'run')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_3.pth'))
    with pytest.raises(OutputExistsError, match=r'holds a previous run \(epoch_3.pth, '
                       r'last_checkpoint\): pass --resume to continue it, another --work-dir .* '
                       'or --force to start over'):
        claim_work_dir(str(work), resume=False, force=False)
    assert claim_work_dir(str(work), resume=True, force=False) is None
    aside = claim_work_dir(str(work), resume=False, force=True)
    assert sorted(os.listdir(aside)) == ['epoch_3.pth', 'last_checkpoint']
    assert (Path(aside) / 'epoch_3.pth').read_bytes() == b'run'
