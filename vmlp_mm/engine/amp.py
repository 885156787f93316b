"""Mixed-precision training on CPU.

mmengine's ``AmpOptimWrapper`` refuses to run without a GPU (it asserts CUDA/NPU/MLU/MUSA in
its constructor) and scales the loss for float16, which bfloat16 does not need: bfloat16 has
float32's exponent range, so gradients do not underflow. This wrapper is the CPU counterpart:
the model's forward and loss run under ``torch.autocast('cpu', dtype=bfloat16)``, parameters,
gradients and optimizer state stay float32, and the update is the plain ``OptimWrapper``'s.
``tools/train.py --amp`` picks it on machines without a GPU (and ``tools/test.py --amp`` calls
:func:`enable_mmcv_cpu_half_inputs` for mmengine's autocast test loop).
"""
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.runner import TestLoop
from mmengine.runner.amp import autocast
from mmengine.structures import BaseDataElement

from ..registry import LOOPS, OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward context is CPU autocast in bfloat16.

    Args:
        dtype: the autocast dtype; only ``'bfloat16'`` (float16 needs loss scaling, which is
            what ``AmpOptimWrapper`` on a GPU is for).
        **kwargs: the ``OptimWrapper`` arguments (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs):
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f'CPUAmpOptimWrapper trains in bfloat16 only, got dtype={dtype!r}; '
                             'float16 needs loss scaling: use AmpOptimWrapper on a GPU')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16
        enable_mmcv_cpu_half_inputs()

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield


def _float32_inputs(forward):
    """``forward(ctx, *args)`` with its bfloat16/float16 CPU tensors passed as float32, and a
    floating output returned in the first one's dtype (callers write it into tensors of it)."""

    def wrapped(ctx, *args, **kwargs):
        half = [a.dtype for a in args if isinstance(a, torch.Tensor) and a.device.type == 'cpu'
                and a.dtype in (torch.bfloat16, torch.float16)]
        if not half:
            return forward(ctx, *args, **kwargs)
        args = [a.float() if isinstance(a, torch.Tensor) and a.dtype == half[0] else a
                for a in args]
        out = forward(ctx, *args, **kwargs)
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            return out.to(half[0])
        return out  # indices, or a backward's gradients (autograd casts them)

    wrapped.vmlp_float32_inputs = True
    return wrapped


def enable_mmcv_cpu_half_inputs() -> None:
    """Let mmcv's CPU NMS and RoIAlign take the bfloat16 tensors CPU autocast gives them.

    mmcv 2.1.0's CPU kernels of ``nms`` and ``roi_align`` dispatch float32/float64 only ("expected
    scalar type Float but found BFloat16"), so Mask R-CNN cannot train or test under CPU
    autocast; their CUDA kernels take float16, which is why mmdet's GPU AMP works. Here their
    autograd functions read half CPU tensors as float32 (NMS returns indices; RoIAlign's
    output is cast back to its input's dtype; its backward reads float32 gradients, and autograd
    casts the input gradient to the input's dtype).
    Idempotent; CUDA tensors are untouched.
    """
    from mmcv.ops.nms import NMSop
    from mmcv.ops.roi_align import RoIAlignFunction
    for function, method in ((NMSop, 'forward'), (RoIAlignFunction, 'forward'),
                             (RoIAlignFunction, 'backward')):
        kernel = getattr(function, method)
        if not getattr(kernel, 'vmlp_float32_inputs', False):
            setattr(function, method, staticmethod(_float32_inputs(kernel)))


def _half_to_float32(value):
    """Floating half tensors in nested outputs (data samples, lists, dicts) as float32."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in (torch.bfloat16, torch.float16) else value
    if isinstance(value, BaseDataElement):
        for key in value.keys():
            setattr(value, key, _half_to_float32(getattr(value, key)))
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_half_to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _half_to_float32(v) for k, v in value.items()}
    return value


@LOOPS.register_module()
class AmpTestLoop(TestLoop):
    """mmengine's ``TestLoop(fp16=True)`` whose predictions reach the metrics in float32.

    Under autocast a model's predictions come out in the autocast dtype; the metrics then call
    ``.numpy()``, which has no bfloat16 (mmdet's CocoMetric fails), and box coordinates of a
    800-pixel image in bfloat16 are 4 pixels apart. ``tools/test.py --amp`` uses this loop.
    """

    def __init__(self, runner, dataloader, evaluator, fp16: bool = True):
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        enable_mmcv_cpu_half_inputs()

    @torch.no_grad()
    def run_iter(self, idx, data_batch) -> None:
        self.runner.call_hook('before_test_iter', batch_idx=idx, data_batch=data_batch)
        with autocast(enabled=self.fp16):
            outputs = self.runner.model.test_step(data_batch)
        outputs = _half_to_float32(outputs)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook('after_test_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)
