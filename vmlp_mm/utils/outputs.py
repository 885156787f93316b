"""What every vmlp_mm tool that writes files checks first: it never overwrites what it did not
create.

A tool refuses an output path that exists unless ``--force`` is given, and refuses one that is any
of its inputs, whatever the spelling (``./a.pth``, a symlink, a hard link), even with ``--force``.
Outputs that are written in one go go through :func:`vmlp_mm.utils.checkpoint.save_atomically` or
:func:`publish_atomically`, so an interrupted run leaves the old file, not half a new one.
"""
import argparse
import os
import os.path as osp
from typing import Iterable, Optional


class OutputExistsError(FileExistsError):
    """An output would overwrite an existing file or one of the tool's inputs."""


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


def check_output(path: str, inputs: Iterable[str] = (), force: Optional[bool] = False,
                 what: str = 'output') -> None:
    """Raise :class:`OutputExistsError` unless writing ``path`` loses nothing.

    Args:
        path: the file or folder the tool will write.
        inputs: files or folders the tool reads; ``path`` may be none of them nor lie inside one
            that is a folder.
        force: allow replacing an existing ``path`` that is not an input; None for a tool
            without ``--force`` (the message then does not offer it).
        what: how the message names ``path`` (e.g. ``'DST'``).
    """
    for source in inputs:
        if source is None:
            continue
        inside = osp.isdir(source) and osp.realpath(path).startswith(
            osp.join(osp.realpath(source), ''))
        if _same_file(path, source) or inside:
            raise OutputExistsError(
                f'{what} {path} is the input {source}{" or inside it" if inside else ""}: pick '
                'another path (inputs are never overwritten, not even with --force)')
    if osp.lexists(path) and not force:
        kind = 'folder' if osp.isdir(path) else 'file'
        raise OutputExistsError(f'{what} {path} exists ({kind}); pick another path'
                                + (', or pass --force to replace it' if force is False else ''))
    parent = osp.dirname(osp.abspath(path))
    if osp.exists(parent) and not os.access(parent, os.W_OK):
        raise OutputExistsError(f'{what} {path}: cannot write in {parent} (no permission)')
