"""The one place vmlp_mm lets torch >= 2.6 load mmengine 0.10.7's own checkpoints.

torch.load defaults to ``weights_only=True`` since torch 2.6, and mmengine 0.10.7 calls it without
arguments, so its Runner checkpoints (resume, ``load_from``, ``init_cfg=Pretrained`` of a trained
classifier) fail: their message hub holds ``HistoryBuffer`` objects with numpy arrays and scalars.
Instead of turning the safe loader off, the few classes those checkpoints use are allowlisted.
``builtins.getattr`` is among them because pickle stores HistoryBuffer's statistics table as
``getattr(HistoryBuffer, 'min')`` etc.; the weights-only unpickler still refuses to *call* anything
not allowlisted, so what getattr returns cannot be executed during loading.
"""
import builtins

import numpy as np
import torch


def mmengine_checkpoint_globals() -> list:
    """Globals that mmengine Runner checkpoints pickle besides tensors."""
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [type(np.dtype(t)) for t in
                     (np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8, np.bool_)]
    return [HistoryBuffer, builtins.getattr, np.ndarray, np.dtype, multiarray._reconstruct,
            multiarray.scalar, *dtype_classes]


def allow_mmengine_checkpoints() -> None:
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
