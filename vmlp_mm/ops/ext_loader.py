"""Loading of the compiled extension ``vmlp_mm._ext`` and the fallback to reference ops.

``VMLP_MM_DISABLE_EXT=1`` runs every op's reference even where the extension is built (to compare
or time a reference-op build of a model).
"""
import functools
import os
import warnings

import torch

if os.environ.get('VMLP_MM_DISABLE_EXT', '0') == '1':
    _ext, _EXT_ERROR = None, 'disabled by VMLP_MM_DISABLE_EXT=1'
else:
    try:
        from vmlp_mm import _ext
        _EXT_ERROR = None
    except ImportError as exc:  # not built: ops fall back to their references
        _ext, _EXT_ERROR = None, exc


def has_ext() -> bool:
    """Whether the compiled extension ``vmlp_mm._ext`` is loaded."""
    return _ext is not None


@functools.lru_cache(maxsize=None)
def has_op(op_name: str) -> bool:
    """Whether ``torch.ops.vmlp_mm.<op_name>`` has kernels (False for an out-of-date build)."""
    return _ext is not None and hasattr(torch.ops.vmlp_mm, op_name)


@functools.lru_cache(maxsize=None)
def warn_reference_used(op_name: str) -> None:
    """Warn once per op that its pure-PyTorch reference runs instead of the kernel."""
    reason = (f'vmlp_mm._ext is not built ({_EXT_ERROR})' if _ext is None else
              f'vmlp_mm._ext is out of date (it has no {op_name})')
    warnings.warn(
        f'{reason}; {op_name} runs its pure-PyTorch reference, which is slower. Build the kernels '
        'with `pip install --no-build-isolation --no-deps -e .` (FORCE_CUDA=1 for CUDA).',
        stacklevel=3)
