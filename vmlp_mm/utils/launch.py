"""Launch helpers shared by tools/train.py and tools/test.py."""
import argparse
import ast
import difflib
import gc
import inspect
import logging
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
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


class CfgOptionsAction(DictAction):
    """mmengine's ``--cfg-options`` parser, which also takes a dict: ``key=dict(a=1, b='x')`` or
    ``key={'a': 1}`` (mmengine's recurses without end on them), and says which option it cannot
    read instead of failing deep inside argparse."""

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest, None) or {})
        for item in values or []:
            if '=' not in item:
                parser.error(f'{option_string} {item}: expected KEY=VALUE')
            key, value = item.split('=', maxsplit=1)
            try:
                options[key] = (dict_literal(value) if value.strip().startswith(('dict(', '{'))
                                else self._parse_iterable(value))
            except (ValueError, SyntaxError, RecursionError) as exc:
                parser.error(f'{option_string} {item}: cannot read the value ({exc}); write '
                             "plain values, lists [a,b], tuples (a,b) or dicts dict(a=1,b='x')")
        setattr(namespace, self.dest, options)


def dict_literal(text: str) -> dict:
    """``dict(a=1, b=dict(c='x'))`` or ``{'a': 1}`` as a dict, literals only (no code runs)."""
    def convert(node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == 'dict' and not node.args:
            return {kw.arg: convert(kw.value) for kw in node.keywords}
        if isinstance(node, ast.Dict):
            return {convert(k): convert(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [convert(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        return ast.literal_eval(node)
    return convert(ast.parse(text.strip(), mode='eval').body)


def add_cfg_options_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, help=help)


def load_config(path: str, cfg_options: dict, launcher: str, work_dir: str = None,
                progress: bool = False) -> Config:
    """The config of a train/test run: ``--cfg-options`` checked and merged, checkpoints saved
    crash-safely (:class:`vmlp_mm.engine.CrashSafeCheckpointHook`) and loaded strictly
    (:class:`vmlp_mm.engine.StrictCheckpointHook`), a diverged loss stopping the run
    (:class:`vmlp_mm.engine.FiniteLossHook`), schedulers fitted to the run length, the
    launcher (with the CPU distributed set-up) and the work dir (default
    ``./work_dirs/<config name>``) set; with ``progress``, a progress bar per phase
    (:class:`vmlp_mm.engine.ProgressBarHook`)."""
    cfg = read_config(path)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='vmlp_mm.StrictCheckpointHook'),
                        dict(type='vmlp_mm.FiniteLossHook')]
    if progress:
        cfg.custom_hooks.append(dict(type='vmlp_mm.ProgressBarHook'))
    checkpoint_hook = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint_hook and checkpoint_hook.get('type') in ('CheckpointHook', None):
        checkpoint_hook.type = 'vmlp_mm.CrashSafeCheckpointHook'
    drop_schedulers_after_the_run(cfg)
    cfg.launcher = launcher
    setup_cpu_distributed(cfg, launcher)
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def read_config(path: str) -> Config:
    """``Config.fromfile`` with the file named in its errors (mmengine reports a syntax error
    as in ``<unknown>``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'no config file at {path}')
    try:
        return Config.fromfile(path)
    except SyntaxError as exc:
        where = exc.filename if exc.filename and exc.filename != '<unknown>' else path
        raise ValueError(f'config {where}, line {exc.lineno}: {exc.msg}; fix the file '
                         f'(or the files it inherits with _base_)') from exc


def check_cfg_options(cfg: Config, cfg_options: dict) -> None:
    """Refuse ``--cfg-options`` keys that are typos of the config's keys.

    mmengine merges unknown keys silently, so ``trian_cfg.max_epochs=2`` would train the full
    schedule. Every key's parents must exist in the config; a new last part is allowed (e.g. a
    backbone argument the config leaves at its default) unless it is nearly the name of an
    existing sibling (``max_epoch`` next to ``max_epochs``).
    """
    from mmengine.runner import Runner
    runner_arguments = set(inspect.signature(Runner.__init__).parameters) - {'self'}
    for key in cfg_options:
        node, parts = cfg, key.split('.')
        if parts[0] not in cfg and parts[0] in runner_arguments:
            continue  # a Runner argument the config leaves at its default
        for depth, part in enumerate(parts):
            is_last = depth == len(parts) - 1
            if isinstance(node, (list, tuple)):
                if not (part.isdigit() and int(part) < len(node)):
                    where = '.'.join(parts[:depth]) or 'the config'
                    raise ValueError(f'--cfg-options {key}: {where} is a list of {len(node)}; '
                                     f'{part!r} is not an index of it')
                node = node[int(part)]
                continue
            if not isinstance(node, (dict, Config)):
                raise ValueError(f'--cfg-options {key}: {".".join(parts[:depth])} is {node!r}, not '
                               f'a dict; set it whole, e.g. {".".join(parts[:depth])}="dict(...)"')
            if part in node:
                node = node[part]
                if is_last:
                    check_value_type(key, node, cfg_options[key])
                continue
            close = difflib.get_close_matches(part, [str(k) for k in node], n=1,
                                              cutoff=0.9 if is_last and depth else 0.6)
            if is_last and depth and not close:
                break  # a new argument of an existing dict
            where = '.'.join(parts[:depth]) or 'the config'
            hint = (f'; did you mean {".".join(parts[:depth] + close)}?' if close else
                    f'; its keys are {", ".join(sorted(map(str, node)))} (to add a section, '
                    f'give it whole: {".".join(parts[:depth + 1])}="dict(...)")')
            raise ValueError(f'--cfg-options {key}: {where} has no key {part!r}{hint}')


def check_value_type(key: str, current, value) -> None:
    """Refuse a text where the config has a number or a flag (``max_epochs=abc``): mmengine
    merges it, and the run fails much later comparing a str with an int."""
    if isinstance(current, (bool, int, float)) and isinstance(value, str):
        kind = 'true or false' if isinstance(current, bool) else 'a number'
        raise ValueError(f'--cfg-options {key}={value}: the config has {current!r} there, {kind}; '
                         'give a value of that kind')


def drop_schedulers_after_the_run(cfg: Config) -> None:
    """Leave out parameter schedulers that would start at or after the end of a shortened run.

    A scheduler without ``end`` ends with the run; one that begins after a warmup
    (``begin=1``) then has ``begin >= end`` when the run is that short (``train_cfg.max_epochs=1``)
    and mmengine stops with "end should be larger than begin". Such a scheduler would never act,
    so it is left out, with a warning.
    """
    schedulers = cfg.get('param_scheduler')
    train_cfg = cfg.get('train_cfg') or {}
    if not isinstance(schedulers, (list, tuple)):
        return
    kept = []
    for scheduler in schedulers:
        by_epoch = scheduler.get('by_epoch', True)
        length = train_cfg.get('max_epochs' if by_epoch else 'max_iters')
        unit = 'epoch' if by_epoch else 'iteration'
        if 'end' not in scheduler and length is not None and scheduler.get('begin', 0) >= length:
            print_log(f'{scheduler["type"]} begins at {unit} {scheduler["begin"]}, at or after the '
                      f'end of this {length}-{unit} run: left out', logger='current',
                      level=logging.WARNING)
            continue
        kept.append(scheduler)
    cfg.param_scheduler = kept


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
