"""Progress of our tools' long steps (checkpoint conversion, ONNX export, FLOP counting, dataset
packing): a line when a step starts and its time when it ends."""
import contextlib
import sys
import time


@contextlib.contextmanager
def step(what: str):
    print(f'{what} ...', end='', flush=True, file=sys.stderr)
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        print(' failed', file=sys.stderr, flush=True)
        raise
    print(f' done in {time.perf_counter() - start:.1f} s', file=sys.stderr, flush=True)
