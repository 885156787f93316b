"""Loading of the compiled extension ``vmlp_mm._ext`` and the fallback to reference ops.

``VMLP_MM_DISABLE_EXT=1`` runs every op's reference even where the extension is built (to compare
or time a reference-op build of a model).
"""
import functools
import os
import warnings

if os.environ.get('VMLP_MM_DISABLE_EXT', '0') == '1':
    _ext, _EXT_ERROR = None, 'disabled by VMLP_MM_DISABLE_EXT=1'
else:
    try:
        from vmlp_mm import _ext
        _EXT_ERROR = None
    except ImportError as exc:  # not built: ops fall back to their references
        _ext, _EXT_ERROR = None, exc


def has_ext() -> bool:
    """Whether the compiled ops (``torch.ops.vmlp_mm.*``) are available."""
    return _ext is not None


@functools.lru_cache(maxsize=None)
def warn_reference_used(op_name: str) -> None:
    """Warn once per op that its pure-PyTorch reference runs instead of the kernel."""
    warnings.warn(
        f'vmlp_mm._ext is not built ({_EXT_ERROR}); {op_name} runs its pure-PyTorch reference, '
        'which is slower. Build the kernels with `pip install --no-build-isolation --no-deps -e .`'
        ' (FORCE_CUDA=1 for CUDA).', stacklevel=3)
