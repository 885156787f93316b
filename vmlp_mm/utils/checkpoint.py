"""Every checkpoint vmlp_mm reads or writes goes through this module.

Reading (:func:`load_checkpoint`), used by the Runner of our tools (resume, ``load_from``), by
``init_cfg=dict(type='Pretrained')``, the converters and the export tools:

- **Weights-only, with a narrow allowlist.** torch >= 2.6 unpickles with ``weights_only=True``;
  mmengine 0.10.7's Runner checkpoints also hold its message hub (``HistoryBuffer`` objects with
  numpy arrays and scalars). Those few classes are allowed *only during our loads* (a context,
  nothing process-wide). Pickle stores ``HistoryBuffer``'s statistics table as
  ``getattr(HistoryBuffer, 'min')`` etc., so ``builtins.getattr`` must resolve, but to
  :func:`_history_buffer_method`, which returns only those methods: through a general ``getattr``
  a file could reach module globals and rewrite process state without running code.
- **Wrapper prefixes dropped**: a state dict saved from a DistributedDataParallel model
  (``module.``) or a ``torch.compile``d one (``_orig_mod.``, at the top or inside, e.g.
  ``backbone._orig_mod.``) loads like the plain model's.
- **One clear error** (:class:`CheckpointError`) naming the file and what is wrong with it:
  missing, a folder, empty, truncated, not a checkpoint, needing code to unpickle, or holding
  something other than weights. Never torch's advice to turn the safe loader off.

Writing: :func:`save_atomically` writes a temporary file and renames it into place once complete
(:func:`vmlp_mm.utils.outputs.written_atomically`), so a crash leaves either the old file or the
new one, never half of one;
:func:`newest_intact_checkpoint` is what ``--resume`` falls back on.

Comparing: :func:`state_dict_problems` lists why a state dict does not fit a model
(:class:`CheckpointMismatchError`).
"""
import glob
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from .outputs import written_atomically


class CheckpointError(ValueError):
    """A checkpoint file cannot be read; the message names the file and the problem."""


class CheckpointMismatchError(ValueError):
    """A checkpoint does not match what a converter or model expects."""


# -- the weights-only allowlist --------------------------------------------------------------------
def _history_buffer_method(owner, name: str):
    """``getattr`` as mmengine checkpoints use it: a public method of ``HistoryBuffer`` only."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if owner is HistoryBuffer and isinstance(name, str) and not name.startswith('_') \
            and callable(vars(HistoryBuffer).get(name)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({owner!r}, {name!r}): checkpoints may only look up the statistics '
        'methods of mmengine HistoryBuffer')


def mmengine_checkpoint_globals() -> list:
    """Globals that mmengine Runner checkpoints pickle besides tensors (see module docstring)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [type(np.dtype(t)) for t in
                     (np.float64, np.float32, np.float16, np.int64, np.int32, np.uint32, np.uint8,
                      np.bool_)]
    return [HistoryBuffer, (_history_buffer_method, 'builtins.getattr'), np.ndarray, np.dtype,
            multiarray._reconstruct, multiarray.scalar, *dtype_classes]


def mmengine_checkpoint_loading():
    """A context in which torch's weights-only loader accepts mmengine Runner checkpoints."""
    return torch.serialization.safe_globals(mmengine_checkpoint_globals())


# -- reading ---------------------------------------------------------------------------------------
# where the weights are: mmengine's 'state_dict'; the official repos' training checkpoints 'model'
WEIGHTS_KEYS = ('state_dict', 'model')
_WRAPPER_PREFIX = re.compile(r'(^module\.|(?<![^.])_orig_mod\.)')


def strip_wrapper_prefixes(state_dict: dict) -> dict:
    """``module.`` at the start and every ``_orig_mod.`` segment removed from the keys."""
    return type(state_dict)((_WRAPPER_PREFIX.sub('', key), value)
                            for key, value in state_dict.items())


def file_problem(path: str, verify_data: bool = False) -> Optional[str]:
    """What keeps ``path`` from being a readable PyTorch checkpoint file, or None.

    Cheap structural checks (existence, size, archive directory); ``verify_data`` also checks
    every stored record's CRC, which reads the whole file.
    """
    if not osp.exists(path):
        return 'does not exist'
    if osp.isdir(path):
        return 'is a folder, not a checkpoint file'
    size = osp.getsize(path)
    if size == 0:
        return 'is empty (0 bytes): probably an interrupted save'
    with open(path, 'rb') as f:
        head = f.read(4)
    if head.startswith(b'PK'):  # torch.save's zip format (torch >= 1.6)
        try:
            with zipfile.ZipFile(path) as archive:
                if not any(n.endswith('data.pkl') for n in archive.namelist()):
                    return 'is a zip archive but not a PyTorch checkpoint (no data.pkl)'
                if verify_data:
                    damaged = archive.testzip()
                    if damaged:
                        return f'is damaged: record {damaged} fails its checksum'
        except (zipfile.BadZipFile, OSError) as exc:
            return (f'is truncated or damaged ({size} bytes; the archive directory cannot be '
                    f'read: {exc})')
        return None
    if head[:1] == b'\x80':  # a pickle: torch's legacy format, or a plain pickle
        return None
    return (f'is not a PyTorch checkpoint (it starts with bytes {head.hex(" ")}, neither a zip '
            'archive nor a pickle)')


def require_checkpoint_file(path: str, what: str = 'checkpoint') -> None:
    """Raise :class:`CheckpointError` now if ``path`` cannot be a checkpoint (the tools check
    before building a model, so a wrong path fails in a second, not after the set-up)."""
    problem = file_problem(path)
    if problem:
        raise CheckpointError(f'{what} {path} {problem}')


def load_checkpoint(path: str, map_location='cpu', trust: bool = False) -> dict:
    """Read a checkpoint: a dict (mmengine's, with ``state_dict``, or a raw state dict).

    Args:
        path: a local file, or a URL / ``scheme://`` path mmengine can fetch.
        map_location: as for ``torch.load``.
        trust: unpickle arbitrary objects (``weights_only=False``); only for files whose source
            you trust, e.g. official training checkpoints that also hold a yacs config.

    Raises:
        CheckpointError: the file cannot be read, or holds no dict of weights.
    """
    is_local = '://' not in str(path)
    if is_local:
        require_checkpoint_file(path)
    try:
        with mmengine_checkpoint_loading():
            if is_local:
                checkpoint = torch.load(path, map_location=map_location, weights_only=not trust)
            else:
                from mmengine.runner.checkpoint import CheckpointLoader
                checkpoint = CheckpointLoader.load_checkpoint(path, map_location=map_location)
    except pickle.UnpicklingError as exc:
        # torch's message advises weights_only=False; only its diagnosis is passed on
        advice = ('Weights only load failed', 'Check the documentation', 'Re-running',
                  'Please file an issue', 'weights_only')
        lines = [line.replace('WeightsUnpickler error:', '').strip()
                 for line in str(exc).splitlines()]
        detail = next((line for line in lines if line and not any(a in line for a in advice)),
                      'no detail')
        if 'GLOBAL' in detail or 'refused' in detail or 'allowlisted' in detail:
            raise CheckpointError(
                f'checkpoint {path} is not loaded: unpickling it needs more than weights, which '
                f'could run code ({detail}). If you trust where it comes from, load it with '
                'torch.load(..., weights_only=False) and torch.save() its state_dict alone; the '
                'converters take --trust for official training checkpoints.') from None
        raise CheckpointError(f'checkpoint {path} is not a torch.save() file or is damaged '
                              f'({detail})') from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f'checkpoint {path} cannot be read ({type(exc).__name__}: '
                              f'{str(exc).splitlines()[0] if str(exc) else "no detail"}); was its '
                              'save interrupted?') from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f'checkpoint {path} holds a {type(checkpoint).__name__}, not a checkpoint (a dict of '
            "tensors, or a dict with a 'state_dict' of tensors)")
    state_dict = weights_of(checkpoint)
    key = next((k for k in WEIGHTS_KEYS if checkpoint.get(k) is state_dict), None)
    if not state_dict or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(
            f'checkpoint {path} holds no weights: expected a dict of tensors or a dict with a '
            f"'state_dict' of tensors; its keys are {_preview([str(k) for k in checkpoint])}")
    check_finite(state_dict, f'checkpoint {path}')
    # (EMAHook's 'ema_state_dict' keeps its keys: they are the EMA wrapper's own 'module.*')
    if key is None:
        return strip_wrapper_prefixes(checkpoint)
    checkpoint[key] = strip_wrapper_prefixes(state_dict)
    return checkpoint


def check_finite(state_dict: Dict[str, torch.Tensor], what: str = 'checkpoint') -> None:
    """Refuse weights with NaN or infinite values (a diverged run's save, a damaged export),
    naming the first tensors affected: loaded, they would evaluate to chance and train with
    ``loss: nan`` without another word."""
    bad = [key for key, value in state_dict.items()
           if isinstance(value, torch.Tensor) and value.is_floating_point()
           and not bool(torch.isfinite(value).all())]
    if bad:
        raise CheckpointError(
            f'{what} holds non-finite weights (NaN or inf) in {len(bad)} tensors: '
            f'{_preview(bad, 5)}; it is probably from a run that diverged: use an earlier '
            'checkpoint of that run')


def weights_of(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """The state dict of a checkpoint :func:`load_checkpoint` returned."""
    key = next((k for k in WEIGHTS_KEYS if isinstance(checkpoint.get(k), dict)), None)
    return checkpoint[key] if key else checkpoint


# -- writing ---------------------------------------------------------------------------------------
def save_atomically(obj, path: str) -> None:
    """``torch.save(obj, path)``, where a crash leaves the previous file (or none), never half,
    and a failed write (full disk) removes its temporary and says how much space it needed."""
    with written_atomically(path, needed=tensor_bytes(obj)) as partial:
        save_or_raise_oserror(obj, partial)


def save_or_raise_oserror(obj, path: str) -> None:
    """``torch.save``, whose zip writer reports a failed write (disk full, file-size limit) as a
    ``RuntimeError`` ("file write failed"): raised as the ``OSError`` it is, so that
    :func:`vmlp_mm.utils.outputs.written_atomically` names the cause."""
    try:
        torch.save(obj, path)
    except RuntimeError as exc:
        if not any(m in str(exc) for m in ('write failed', 'failed writing', 'inline_container')):
            raise
        code = _write_errno(path, tensor_bytes(obj))
        raise OSError(code, os.strerror(code)) from exc


def _write_errno(path: str, needed: int) -> int:
    import errno
    import resource
    import shutil
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and limit < needed:
        return errno.EFBIG
    if shutil.disk_usage(osp.dirname(osp.abspath(path))).free < needed:
        return errno.ENOSPC
    return errno.EIO


def tensor_bytes(obj) -> int:
    """The bytes of the tensors in ``obj`` (nested dicts, lists, tuples): about its size on
    disk."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def newest_intact_checkpoint(work_dir: str) -> Tuple[Optional[str], List[str], Optional[str]]:
    """The checkpoint ``--resume`` should continue from, why others were skipped, and the one
    ``work_dir/last_checkpoint`` names (None without a pointer).

    Candidates are the work dir's ``*.pth`` files, newest first (``best_*`` ones, copies of an
    earlier state, last), then the pointer's file if it lies elsewhere: a kill between publishing
    a checkpoint and updating the pointer leaves the pointer one checkpoint behind, and the newest
    file is what the run had reached. The first whose archive is complete (every record's
    checksum) wins.
    """
    pointed = None
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            pointed = f.read().strip() or None
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')),
                   key=lambda p: (not osp.basename(p).startswith('best_'), osp.getmtime(p), p),
                   reverse=True)
    candidates = found + [pointed] if pointed and not any(
        osp.abspath(pointed) == osp.abspath(p) for p in found) else found
    skipped = []
    for path in candidates:
        problem = file_problem(path, verify_data=True)
        if problem is None:
            return path, skipped, pointed
        skipped.append(f'{path} {problem}')
    return None, skipped, pointed


# -- comparing -------------------------------------------------------------------------------------
def state_dict_problems(state_dict: Dict[str, torch.Tensor],
                        expected: Dict[str, torch.Tensor]) -> List[str]:
    """What keeps ``state_dict`` from loading strictly where ``expected`` is the target's state
    dict: missing and unexpected keys and shape mismatches, one string each (empty if none)."""
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [f'{k}: {tuple(state_dict[k].shape)} vs {tuple(v.shape)}'
                  for k, v in expected.items()
                  if k in state_dict and state_dict[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f'missing {len(missing)}: {_preview(missing)}')
    if unexpected:
        problems.append(f'unexpected {len(unexpected)}: {_preview(unexpected)}')
    if mismatched:
        problems.append(f'shape mismatch {len(mismatched)} (checkpoint vs model): '
                        f'{_preview(mismatched)}')
    return problems


def check_state_dict(state_dict: Dict[str, torch.Tensor], model: torch.nn.Module,
                     what: str = 'checkpoint') -> None:
    """Raise unless ``state_dict`` has exactly the keys and shapes of ``model``'s state dict."""
    problems = state_dict_problems(state_dict, model.state_dict())
    if problems:
        raise CheckpointMismatchError(f'{what} does not fit the model: ' + '; '.join(problems))


def _preview(items: List[str], limit: int = 10) -> str:
    more = f' ... (+{len(items) - limit} more)' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more

