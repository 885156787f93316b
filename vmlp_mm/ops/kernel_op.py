"""One declaration per op: the compiled kernel of ``vmlp_mm._ext``, its pure-PyTorch reference,
and everything PyTorch needs around the kernel.

``torch.library.custom_op`` would register a Python function; our kernels are C++ schemas
(``csrc/pytorch/pybind.cpp``) that need fake kernels, autograd and autocast registered against
them, and a fallback to the reference where the extension is not built. :class:`KernelOp` does
that once for every op, so a new op declares its reference, its fake kernels, its backward and
its autocast rule, and nothing else.

Autocast: ``torch.library.register_autocast`` casts to one fixed dtype; ours follow the
autocast dtype of the moment (float16 or bfloat16) through a kernel at the ``AutocastCPU`` /
``AutocastCUDA`` keys that applies the op's ``autocast_args`` rule and runs the op with autocast
off. Outside autocast nothing is cast, so mixed dtypes reach the kernels' argument checks.
"""
import contextlib
from typing import Callable, Optional

import torch

from .ext_loader import has_op, warn_reference_used

_reference_only = [False]  # set inside reference_ops()


@contextlib.contextmanager
def reference_ops():
    """Run every vmlp_mm op through its pure-PyTorch reference for a while (e.g. ONNX export,
    where the references decompose into standard operators, or benchmarks against them)."""
    saved = _reference_only[0]
    _reference_only[0] = True
    try:
        yield
    finally:
        _reference_only[0] = saved


def cast_to_autocast_dtype(dtype: torch.dtype, *args):
    """The autocast rule of convolutions and matmuls: floating tensors in the autocast dtype."""
    return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                 for a in args)


def _device_type(args) -> str:
    return next(a.device.type for a in args if isinstance(a, torch.Tensor))


class KernelOp:
    """``torch.ops.vmlp_mm.<name>`` with its reference, fake kernels, autograd and autocast.

    Args:
        name: the op's schema name; its backward op is ``<name>_backward``.
        reference: pure-PyTorch function with the op's signature and semantics.
        fake: fake (meta) kernel of the op; ``backward_fake`` likewise of the backward op.
        setup_context, backward: autograd of the op (``torch.library.register_autograd``).
        autocast_args: ``(autocast_dtype, *args) -> args`` the op runs with under autocast.
    """

    def __init__(self, name: str, reference: Callable, fake: Callable, backward_fake: Callable,
                 setup_context: Callable, backward: Callable,
                 autocast_args: Callable = cast_to_autocast_dtype):
        self.name = name
        self.reference = reference
        self.autocast_args = autocast_args
        self.available = has_op(name)
        self._lib: Optional[torch.library.Library] = None
        if self.available:
            qualname = f'vmlp_mm::{name}'
            torch.library.register_fake(qualname)(fake)
            torch.library.register_fake(f'{qualname}_backward')(backward_fake)
            torch.library.register_autograd(qualname, backward, setup_context=setup_context)
            self._lib = torch.library.Library('vmlp_mm', 'IMPL')
            for key in ('AutocastCPU', 'AutocastCUDA'):
                self._lib.impl(name, self._autocast_kernel, key)

    @property
    def op(self):
        return getattr(torch.ops.vmlp_mm, self.name)

    def _autocast_kernel(self, *args):
        device_type = _device_type(args)
        args = self.autocast_args(torch.get_autocast_dtype(device_type), *args)
        with torch.autocast(device_type, enabled=False):
            return self.op(*args)

    def __call__(self, *args):
        if self.available and not _reference_only[0]:
            return self.op(*args)
        if not _reference_only[0]:
            warn_reference_used(self.name)
        device_type = _device_type(args)
        if not torch.is_autocast_enabled(device_type):
            return self.reference(*args)
        # the kernel's autocast behaviour, not that of the reference's building blocks
        args = self.autocast_args(torch.get_autocast_dtype(device_type), *args)
        with torch.autocast(device_type, enabled=False):
            return self.reference(*args)
