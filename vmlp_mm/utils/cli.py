"""How vmlp_mm's command-line tools end on an expected failure: one line naming the problem and
the fix, exit status 1, no stack trace.

Expected failures are the errors the project raises with such a message (bad checkpoint, data,
output path, config value) and the operating system's (a missing file, no permission, a full
disk). Anything else is a bug: its trace is printed as Python prints it. ``--debug`` on the
command line, or ``VMLP_DEBUG=1`` in the environment (which also reaches the processes of a
distributed launch), prints the trace of expected failures too.
"""
import os
import sys
from typing import Callable

DEBUG_ENV = 'VMLP_DEBUG'


def expected_errors() -> tuple:
    """The exception types whose message is the whole story (imported late: the tools call
    :func:`run_main` before anything heavy is loaded)."""
    from ..engine.data_checks import DatasetError
    from .checkpoint import CheckpointError, CheckpointMismatchError
    from .outputs import OutputExistsError, OutputWriteError
    return (CheckpointError, CheckpointMismatchError, DatasetError, OutputExistsError,
            OutputWriteError, OSError, ValueError, SyntaxError, ImportError)


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, '') not in ('', '0')


def run_main(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; an expected failure ends it with one line on stderr (see module
    docstring)."""
    if '--debug' in sys.argv:
        sys.argv.remove('--debug')
        os.environ[DEBUG_ENV] = '1'
    try:
        main()
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:  # the tools' own refusals: raise SystemExit('message')
        if isinstance(exc.code, str):
            print(f'error: {exc.code}', file=sys.stderr)
            sys.exit(1)
        raise
    except Exception as exc:  # noqa: B902 (sorted into expected and not below)
        if debugging() or not isinstance(exc, expected_errors()):
            raise
        print(f'error: {one_line(exc)} (--debug or {DEBUG_ENV}=1 shows the trace)',
              file=sys.stderr)
        sys.exit(1)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, with the OS's error named where it has no message
    of ours (``[Errno 2] No such file or directory: 'x'`` -> ``No such file or directory: x``)."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename and \
            str(exc).startswith('[Errno'):
        return f'{exc.strerror}: {exc.filename}'
    if isinstance(exc, SyntaxError) and exc.filename:
        return f'{exc.filename}, line {exc.lineno}: {exc.msg}'
    text = str(exc)
    if 'Original Traceback' in text:  # re-raised from a DataLoader worker: its last line
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(': ', 1)[-1] if last.split(':', 1)[0].endswith('Error') else last
    text = ' '.join(text.split()) or type(exc).__name__
    errno_prefix = f'[Errno {getattr(exc, "errno", None)}]'
    return text[len(errno_prefix):].strip() if text.startswith(errno_prefix) else text
