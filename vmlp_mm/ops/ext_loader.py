"""Loading of the compiled extension ``vmlp_mm._ext`` and the fallback to reference ops."""
import functools
import warnings

try:
    from vmlp_mm import _ext
    _EXT_ERROR = None
except ImportError as exc:  # not built: ops fall back to their references
    _ext = None
    _EXT_ERROR = exc


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
