"""Expected failures of the tools end in one line naming the problem and the fix; the trace is
behind --debug or VMLP_DEBUG=1; unexpected errors keep theirs."""
import errno
import sys

import pytest

from vmlp_mm.utils.checkpoint import CheckpointError
from vmlp_mm.utils.cli import DEBUG_ENV, one_line, run_main
from vmlp_mm.utils.outputs import write_failure


def fail(exc):
    def main():
        raise exc
    return main


@pytest.mark.parametrize('exc,line', [
    (CheckpointError('checkpoint x.pth is empty (0 bytes)'), 'checkpoint x.pth is empty (0 bytes)'),
    (FileNotFoundError(errno.ENOENT, 'No such file or directory', 'cfg.py'),
     'No such file or directory: cfg.py'),
    (write_failure('/w/a.pth', OSError(errno.EACCES, 'Permission denied')),
     'cannot write /w/a.pth: Permission denied; pick a folder you can write'),
    (ValueError('Caught DatasetError in DataLoader worker process 0.\nOriginal Traceback (most '
                'recent call last):\n  File "x.py", line 1\nvmlp_mm.DatasetError: the sample '
                'a.png fails'), 'the sample a.png fails'),
], ids=['ours', 'os', 'write', 'from a worker'])
def test_expected_failures_end_in_one_line(exc, line, monkeypatch, capsys):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setattr(sys, 'argv', ['tool'])
    with pytest.raises(SystemExit) as exit_:
        run_main(fail(exc))
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith(f'error: {line}')
    assert 'Traceback' not in err and '--debug' in err
    assert one_line(exc).startswith(line)


def test_debug_and_unexpected_errors_keep_the_trace(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setattr(sys, 'argv', ['tool', '--debug'])
    with pytest.raises(CheckpointError):
        run_main(fail(CheckpointError('bad')))
    assert sys.argv == ['tool']
    monkeypatch.delenv(DEBUG_ENV)
    with pytest.raises(ZeroDivisionError):  # a bug: Python's own report
        run_main(fail(ZeroDivisionError('division by zero')))


def test_a_tool_refusal_is_one_error_line_too(monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', ['tool'])
    with pytest.raises(SystemExit) as exit_:
        run_main(fail(SystemExit('--out x.txt: the raw predictions are a pickle, name it *.pkl')))
    assert exit_.value.code == 1
    assert capsys.readouterr().err == 'error: --out x.txt: the raw predictions are a pickle, ' \
        'name it *.pkl\n'
