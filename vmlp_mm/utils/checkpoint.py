"""How vmlp_mm loads checkpoints through mmengine: the one place for two fixes.

1. torch >= 2.6 and mmengine 0.10.7's own checkpoints (below).
2. Wrapper prefixes: a state dict saved from a DistributedDataParallel model (``module.``) or a
   ``torch.compile``d one (``_orig_mod.``, at the top or inside, e.g. ``backbone._orig_mod.``)
   loads like the plain model's, for resume, ``load_from`` and ``init_cfg=Pretrained`` alike:
   mmengine's local-file loader is replaced by one that drops those prefixes.

torch.load defaults to ``weights_only=True`` since torch 2.6, and mmengine 0.10.7 calls it without
arguments, so its Runner checkpoints (resume, ``load_from``, ``init_cfg=Pretrained`` of a trained
classifier) fail: their message hub holds ``HistoryBuffer`` objects with numpy arrays and scalars.
Instead of turning the safe loader off, the few classes those checkpoints use are allowlisted.
``builtins.getattr`` is among them because pickle stores HistoryBuffer's statistics table as
``getattr(HistoryBuffer, 'min')`` etc.; the weights-only unpickler still refuses to *call* anything
not allowlisted, so what getattr returns cannot be executed during loading.
"""
import builtins
import re

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

_WRAPPER_PREFIX = re.compile(r'(^module\.|(?<![^.])_orig_mod\.)')


def mmengine_checkpoint_globals() -> list:
    """Globals that mmengine Runner checkpoints pickle besides tensors."""
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [type(np.dtype(t)) for t in
                     (np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8, np.bool_)]
    return [HistoryBuffer, builtins.getattr, np.ndarray, np.dtype, multiarray._reconstruct,
            multiarray.scalar, *dtype_classes]


def strip_wrapper_prefixes(state_dict: dict) -> dict:
    """``module.`` at the start and every ``_orig_mod.`` segment removed from the keys."""
    return type(state_dict)((_WRAPPER_PREFIX.sub('', key), value)
                            for key, value in state_dict.items())


def load_local_checkpoint(filename, map_location):
    """mmengine's local loader, with the wrapper prefixes dropped from the model weights."""
    checkpoint = load_from_local(filename, map_location)
    # (EMAHook's 'ema_state_dict' keeps its keys: they are the EMA wrapper's own 'module.*')
    if isinstance(checkpoint, dict):
        if isinstance(checkpoint.get('state_dict'), dict):
            checkpoint['state_dict'] = strip_wrapper_prefixes(checkpoint['state_dict'])
        elif checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            checkpoint = strip_wrapper_prefixes(checkpoint)  # a raw state dict
    return checkpoint


def allow_mmengine_checkpoints() -> None:
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)

