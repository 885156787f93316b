"""What the analysis tools share: FLOP counting with mmengine's analysis (fvcore conventions:
one multiply-add = one FLOP), with handles for the vmlp_mm ops so that they are counted, not
skipped, and the benchmarks' timing protocol and peak-memory measurement.

    analyzer = flop_analyzer(model, inputs)
    analyzer.total(), analyzer.by_operator(), analyzer.unsupported_ops()
"""
import contextlib
import ctypes
import ctypes.util
import gc
import statistics
import threading
import time
from typing import Any, Callable, List

import numpy as np
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import bmm_flop_jit, get_shape


def shift_mix_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``vmlp_mm::shift_mix``: the two depthwise convs of every channel group, k_g^2 multiply-
    adds per output element, as fvcore counts the official per-group depthwise convs (the rolls
    and the sum are data movement and an add, which fvcore does not count)."""
    batch, _, height, width = get_shape(inputs[0])
    weights = int(np.prod(get_shape(inputs[1]))) + int(np.prod(get_shape(inputs[3])))
    return batch * height * width * weights


def depthwise_conv2d_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``vmlp_mm::depthwise_conv2d``: ``kh * kw`` multiply-adds per output element, as fvcore
    counts the ``nn.Conv2d`` it replaces."""
    batch, _, height, width = get_shape(inputs[0])
    return batch * height * width * int(np.prod(get_shape(inputs[1])))


def offset_sample_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``vmlp_mm::offset_sample``: one multiply-add per output element (linear interpolation
    between two neighbours). The 1x1 projection that follows is an ``F.linear``, counted by
    mmengine's own handle, which makes the total equal to the official count with its
    deform_conv2d handle (a dense 1x1 conv)."""
    return int(np.prod(get_shape(outputs[0])))


def positional_mix_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``vmlp_mm::positional_mix``: what fvcore counts for the maps it never forms -- the scores
    as a ``[G, 5] @ [5, N^2]`` matmul and the mixing as a ``[G, R, N] @ [G, N, N]`` bmm (the
    softmax is not counted)."""
    groups, rows, tokens = get_shape(inputs[0])
    return groups * (5 + rows) * tokens * tokens


def baddbmm_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::baddbmm`` (Strip-MLP's strip FCs: the batched product and its bias in one call),
    which mmengine's analysis does not handle: the product counted as ``bmm``, the bias not, as
    for ``addmm``."""
    return bmm_flop_jit(inputs[1:3], outputs)


VMLP_OP_HANDLES = {
    'vmlp_mm::shift_mix': shift_mix_flop_jit,
    'vmlp_mm::offset_sample': offset_sample_flop_jit,
    'vmlp_mm::depthwise_conv2d': depthwise_conv2d_flop_jit,
    'vmlp_mm::positional_mix': positional_mix_flop_jit,
    'aten::baddbmm': baddbmm_flop_jit,
}


def flop_analyzer(model: torch.nn.Module, inputs) -> FlopAnalyzer:
    """mmengine's FlopAnalyzer with the handles of :data:`VMLP_OP_HANDLES`."""
    analyzer = FlopAnalyzer(model, inputs)
    for name, handle in VMLP_OP_HANDLES.items():
        analyzer.set_op_handle(name, handle)
    return analyzer


def seconds_per_call(fn: Callable[[], Any], warmup: int, repeats: int,
                     device: str) -> List[float]:
    """``warmup`` untimed calls, then the wall times of ``repeats`` calls (synchronised on
    CUDA)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn: Callable[[], Any], warmup: int, repeats: int, device: str) -> float:
    """The median of :func:`seconds_per_call`."""
    return statistics.median(seconds_per_call(fn, warmup, repeats, device))


def resident_bytes() -> int:
    """This process's resident memory (Linux)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096


@contextlib.contextmanager
def peak_memory(device: str):
    """Yields a dict whose ``'bytes'`` is set, on exit, to the peak memory above the start."""
    result = {}
    if device == 'cuda':
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        yield result
        torch.cuda.synchronize()
        result['bytes'] = torch.cuda.max_memory_allocated() - start
        return
    # hand the memory freed by earlier rows back to the system first, or a row reusing it
    # would show no growth
    gc.collect()
    ctypes.CDLL(ctypes.util.find_library('c')).malloc_trim(0)
    start, peak, done = resident_bytes(), [0], threading.Event()

    def sample():
        while not done.wait(1e-3):
            peak[0] = max(peak[0], resident_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        result['bytes'] = max(peak[0], resident_bytes()) - start
