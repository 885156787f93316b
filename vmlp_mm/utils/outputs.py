"""The one output policy of every vmlp_mm tool that writes: nothing that exists is replaced unless
the user passes ``--force``, an input is never an output, and a write that fails leaves no part of
itself behind.

- :func:`check_output` (files) and :func:`check_output_folder` (folders of predictions or
  pictures) run before any work, so a refused output costs a second, not an evaluation. A path
  that is any of the tool's inputs, whatever the spelling (``./a.pth``, a symlink, a hard link),
  or lies inside an input folder is refused even with ``--force``.
- :func:`written_atomically` / :func:`folder_written_atomically`: the tool writes a temporary
  file (folder) beside the target, which replaces the target in one rename once complete. An
  interrupted run leaves the old output, not half a new one; a failed write removes the
  temporary and raises :class:`OutputWriteError` naming the path, the reason and, when space ran
  out, how much was needed and free.
- :func:`check_work_dir`: a training run refuses a work dir that holds a previous run's
  checkpoints unless it resumes that run (``--resume``) or ``--force`` moves them aside.
"""
import argparse
import contextlib
import errno
import glob
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Iterable, Iterator, Optional


class OutputExistsError(FileExistsError):
    """An output would overwrite an existing file or one of the tool's inputs."""


class OutputWriteError(OSError):
    """An output cannot be written; the message names the path, the reason and the fix."""


def add_force_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--force', action='store_true',
                        help='overwrite an existing output (never one of the inputs)')


def _same_file(a: str, b: str) -> bool:
    if osp.realpath(a) == osp.realpath(b):
        return True
    try:
        return osp.samefile(a, b)  # hard links
    except OSError:
        return False


def _check_not_an_input(path: str, inputs: Iterable[str], what: str) -> None:
    for source in inputs:
        if source is None:
            continue
        inside = osp.isdir(source) and osp.realpath(path).startswith(
            osp.join(osp.realpath(source), ''))
        if _same_file(path, source) or inside:
            raise OutputExistsError(
                f'{what} {path} is the input {source}{" or inside it" if inside else ""}: pick '
                'another path (inputs are never overwritten, not even with --force)')


def _check_parent_writable(path: str, what: str) -> None:
    """The nearest existing folder above ``path`` must be a writable folder."""
    parent = osp.dirname(osp.abspath(path))
    while not osp.lexists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise OutputWriteError(f'{what} {path}: {parent} is a file, not a folder; pick another '
                               'path')
    try:  # a real file: os.access says yes to root on read-only or special file systems
        with tempfile.TemporaryFile(dir=parent, prefix='.vmlp-write-check-'):
            pass
    except OSError as exc:
        raise write_failure(path, exc) from exc


def check_output(path: str, inputs: Iterable[str] = (), force: Optional[bool] = False,
                 what: str = 'output') -> None:
    """Raise :class:`OutputExistsError` (or :class:`OutputWriteError`) unless writing the file
    ``path`` loses nothing and can succeed.

    Args:
        path: the file the tool will write.
        inputs: files or folders the tool reads; ``path`` may be none of them nor lie inside one
            that is a folder.
        force: allow replacing an existing ``path`` that is not an input; None for a tool
            without ``--force`` (the message then does not offer it).
        what: how the message names ``path`` (e.g. ``'DST'``).
    """
    _check_not_an_input(path, inputs, what)
    if osp.lexists(path) and not force:
        kind = 'folder' if osp.isdir(path) else 'file'
        raise OutputExistsError(f'{what} {path} exists ({kind}); pick another path'
                                + (', or pass --force to replace it' if force is False else ''))
    _check_parent_writable(path, what)


def check_output_folder(path: str, inputs: Iterable[str] = (), force: bool = False,
                        what: str = 'output folder') -> None:
    """Like :func:`check_output` for a folder the tool fills: an existing folder with anything
    in it needs ``force`` (and is then replaced whole, see :func:`folder_written_atomically`)."""
    _check_not_an_input(path, inputs, what)
    if osp.lexists(path) and not osp.isdir(path):
        raise OutputExistsError(f'{what} {path} is a file, not a folder; pick another path')
    if osp.isdir(path) and os.listdir(path) and not force:
        held = sorted(os.listdir(path))
        raise OutputExistsError(
            f'{what} {path} exists and holds {len(held)} entries ({", ".join(held[:3])}'
            f'{", ..." if len(held) > 3 else ""}); pick another path, or pass --force to replace '
            'the folder')
    _check_parent_writable(path, what)


def partial_path(path: str) -> str:
    """Where a file (or folder) is written before it replaces ``path``: hidden, beside it, with
    ``path``'s suffix kept (writers that check the suffix accept it)."""
    folder, name = osp.split(path)
    stem, suffix = osp.splitext(name)
    return osp.join(folder, f'.{stem}.partial{suffix}')


def _fsync_folder(path: str) -> None:
    descriptor = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish_atomically(partial: str, path: str) -> None:
    """Make the finished file ``partial`` appear at ``path`` in one step, durably."""
    with open(partial, 'rb+') as f:
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    _fsync_folder(path)


def write_failure(path: str, exc: OSError, needed: Optional[int] = None) -> OutputWriteError:
    """The error of a failed write of ``path``: which path, why, and the fix; for a full disk,
    the space needed (when known) and free."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        try:
            free = shutil.disk_usage(osp.dirname(osp.abspath(path))).free
        except OSError:
            free = None
        space = ', '.join(part for part in (
            f'it needs about {_size(needed)}' if needed else '',
            f'{_size(free)} free there' if free is not None else '') if part)
        fix = 'free some space (or raise the file-size limit) or write elsewhere'
        return OutputWriteError(exc.errno, f'cannot write {path}: {reason}'
                                + (f' ({space})' if space else '') + f'; {fix}')
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputWriteError(exc.errno, f'cannot write {path}: {reason}; pick a folder you '
                                'can write, or change its permissions')
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return OutputWriteError(exc.errno, f'cannot write {path}: {reason} (a file is where a '
                                'folder is needed); pick another path')
    return OutputWriteError(exc.errno, f'cannot write {path}: {reason}')


@contextlib.contextmanager
def written_atomically(path: str, needed: Optional[int] = None) -> Iterator[str]:
    """Yield the temporary path to write; on success it replaces ``path`` (flush, fsync,
    rename); on any failure it is removed, and an ``OSError`` becomes :func:`write_failure`'s
    :class:`OutputWriteError`. ``needed``: the expected size in bytes, for that message."""
    partial = partial_path(path)
    try:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        yield partial
        publish_atomically(partial, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(partial)
        if isinstance(exc, OSError) and not isinstance(exc, OutputWriteError):
            raise write_failure(path, exc, needed) from exc
        raise


@contextlib.contextmanager
def folder_written_atomically(path: str) -> Iterator[str]:
    """Yield a fresh temporary folder to fill; on success it replaces the folder ``path`` (the old
    one, allowed by :func:`check_output_folder`, is removed only after the new one is in place);
    on failure it is removed."""
    partial = partial_path(path.rstrip(os.sep))
    shutil.rmtree(partial, ignore_errors=True)
    try:
        os.makedirs(partial)
        yield partial
        old = None
        if osp.isdir(path):
            old = partial_path(path.rstrip(os.sep) + f'.replaced-{os.getpid()}')
            os.replace(path, old)
        os.replace(partial, path)
        _fsync_folder(path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputWriteError):
            raise write_failure(path, exc) from exc
        raise


def write_text_atomically(path: str, text: str) -> None:
    with written_atomically(path, len(text.encode())) as partial, open(partial, 'w') as f:
        f.write(text)


# -- work dirs -------------------------------------------------------------------------------------
def check_work_dir(path: str, what: str = '--work-dir') -> None:
    """Create the work dir ``path`` now, or say in one line why it cannot be (a file is in the
    way, no permission), before any model or dataset is built."""
    if osp.lexists(path) and not osp.isdir(path):
        raise OutputWriteError(errno.ENOTDIR, f'{what} {path} is a file, not a folder; pick '
                               'another --work-dir')
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise write_failure(path, exc) from exc
    _check_parent_writable(osp.join(path, 'log'), what)


def previous_run(work_dir: str) -> list:
    """The files of an earlier training run in ``work_dir`` that a new run would replace: its
    checkpoints and ``last_checkpoint``."""
    found = glob.glob(osp.join(work_dir, '*.pth'))
    found += glob.glob(osp.join(work_dir, 'last_checkpoint'))
    return sorted(osp.basename(p) for p in found)


def claim_work_dir(work_dir: str, resume: bool, force: bool) -> Optional[str]:
    """Check the work dir of a training run; returns where ``force`` moved a previous run's
    files, if it did.

    A new run (no ``--resume``) into a work dir that holds a previous run's checkpoints would
    replace them one by one (and a later ``--resume`` could continue the wrong run), so it is
    refused unless ``force``, which moves them into ``replaced-<time>/`` in the work dir (a rename:
    nothing is deleted, nothing copied).
    """
    check_work_dir(work_dir)
    earlier = previous_run(work_dir)
    if not earlier or resume:
        return None
    if not force:
        raise OutputExistsError(
            f'--work-dir {work_dir} holds a previous run ({", ".join(earlier[:4])}'
            f'{", ..." if len(earlier) > 4 else ""}): pass --resume to continue it, another '
            '--work-dir to start elsewhere, or --force to start over (its checkpoints are then '
            'moved into a replaced-<time> folder there)')
    aside = osp.join(work_dir, time.strftime('replaced-%Y%m%d_%H%M%S'))
    os.makedirs(aside)
    for name in earlier:
        os.replace(osp.join(work_dir, name), osp.join(aside, name))
    return aside


def _size(n: Optional[int]) -> str:
    if n is None:
        return '?'
    for unit in ('bytes', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return f'{n:.0f} {unit}' if unit == 'bytes' else f'{n:.1f} {unit}'
        n /= 1024
