"""Loading of the compiled extension ``vmlp_mm._ext`` and the fallback to reference ops."""
import functools
import warnings


@functools.lru_cache(maxsize=None)
def load_ext():
    """Import ``vmlp_mm._ext`` once; returns the module, or None when it is not built."""
    try:
        from vmlp_mm import _ext
    except ImportError as exc:
        load_ext.error = exc
        return None
    return _ext


def has_ext() -> bool:
    """Whether the compiled ops (``torch.ops.vmlp_mm.*``) are available."""
    return load_ext() is not None


@functools.lru_cache(maxsize=None)
def warn_reference_used(op_name: str) -> None:
    """Warn once per op that its pure-PyTorch reference runs instead of the kernel."""
    warnings.warn(
        f'vmlp_mm._ext is not built ({getattr(load_ext, "error", "not found")}); '
        f'{op_name} runs its pure-PyTorch reference, which is slower. Build the kernels with '
        '`pip install --no-build-isolation --no-deps -e .` (FORCE_CUDA=1 for CUDA).',
        stacklevel=3)
