"""Launch helpers shared by tools/train.py and tools/test.py."""
import gc
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log


def setup_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Let ``--launcher pytorch`` run on CPU-only machines (gloo), e.g. for tests.

    mmengine 0.10.7 always calls ``torch.cuda.set_device`` before creating the process group and
    wraps models in DDP with CUDA ``device_ids``; on CPU both fail. Creating the gloo group here
    makes the Runner skip its own set-up, and ``device_ids=None`` is DDP's CPU form. On GPU
    machines nothing changes.
    """
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return
    dist.init_process_group('gloo', rank=int(os.environ['RANK']),
                            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    print_log(f'no GPU: distributed {dist.get_world_size()} CPU processes over gloo',
              logger='current')


def load_config(path: str, cfg_options: dict, launcher: str, work_dir: str = None) -> Config:
    """The config of a train/test run: ``--cfg-options`` merged, checkpoints loaded strictly
    (:class:`vmlp_mm.engine.StrictCheckpointHook`), the launcher (with the CPU distributed
    set-up) and the work dir (default ``./work_dirs/<config name>``) set."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='vmlp_mm.StrictCheckpointHook')]
    cfg.launcher = launcher
    setup_cpu_distributed(cfg, launcher)
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def destroy_distributed(synchronize: bool = True) -> None:
    """Tear the process group down before the interpreter exits.

    Left to interpreter shutdown, gloo's worker threads can still be alive when their C++ objects
    are destroyed, and the process aborts ('terminate called without an active exception') after
    a run that finished, failing the whole torchrun job. After a successful run all ranks meet at
    a barrier first, so none tears down while another still communicates; after an error they do
    not wait (the other ranks may never arrive).
    """
    if dist.is_available() and dist.is_initialized():
        # DDP's reducer keeps the group and its last async work (tensors with Python
        # references) alive; freed at interpreter shutdown, that aborts the process. Free them
        # now, while the interpreter is whole (callers drop their runner first).
        gc.collect()
        if synchronize:
            dist.barrier()
        dist.destroy_process_group()
