"""Run every vmlp_mm op through its pure-PyTorch reference for a while (e.g. ONNX export, where
the references decompose into standard operators, or benchmarks against a reference build)."""
import contextlib
import importlib
import warnings

# the modules (the package namespace holds the op functions of the same names)
_OP_MODULES = tuple(importlib.import_module(f'{__package__}.{name}')
                    for name in ('shift_mix', 'offset_sample'))


@contextlib.contextmanager
def reference_ops():
    saved = [module._KERNEL_AVAILABLE for module in _OP_MODULES]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the one-time "reference used" warning is expected here
        for module in _OP_MODULES:
            module._KERNEL_AVAILABLE = False
        try:
            yield
        finally:
            for module, flag in zip(_OP_MODULES, saved):
                module._KERNEL_AVAILABLE = flag
