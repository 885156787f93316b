"""Mixed-precision training on CPU.

mmengine's ``AmpOptimWrapper`` refuses to run without a GPU (it asserts CUDA/NPU/MLU/MUSA in
its constructor) and scales the loss for float16, which bfloat16 does not need: bfloat16 has
float32's exponent range, so gradients do not underflow. This wrapper is the CPU counterpart:
the model's forward and loss run under ``torch.autocast('cpu', dtype=bfloat16)``, parameters,
gradients and optimizer state stay float32, and the update is the plain ``OptimWrapper``'s.
``tools/train.py --amp`` picks it on machines without a GPU.
"""
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from ..registry import OPTIM_WRAPPERS


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

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield
