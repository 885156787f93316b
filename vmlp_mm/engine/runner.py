"""The Runner and checkpoint hook of vmlp_mm's tools: a crash can cost at most the work since the
last checkpoint, never the run.

mmengine 0.10.7 writes a checkpoint in place (a kill mid-save leaves half a file under the final
name), deletes the oldest checkpoint *before* writing the new one (``max_keep_ckpts=1`` and a kill
leave nothing to resume from), and its auto-resume trusts ``last_checkpoint`` blindly. Here:

- :class:`CrashSafeRunner` writes every checkpoint to a temporary file in the same folder and
  renames it into place once it is complete and on disk; it reads checkpoints through
  :func:`vmlp_mm.utils.checkpoint.load_checkpoint` (narrow weights-only allowlist, clear errors,
  wrapper prefixes dropped); and ``--resume`` without a path continues from the newest *intact*
  checkpoint, logging each file it skipped and why. Dataset problems (unreadable annotations,
  missing files, a head with another number of classes) stop the run before its first iteration
  with the dataset and file named (:mod:`.data_checks`). A resumed run continues bit-identically
  (with the data loaded in the main process or in non-persistent workers): the checkpoint keeps
  the random generators' states.
- :class:`CrashSafeCheckpointHook` writes ``last_checkpoint`` only after the checkpoint it names
  is in place, and deletes expired checkpoints only then.
"""
import collections
import logging
import os
import os.path as osp
import random

import numpy as np
import torch
from mmengine.dist import is_main_process, master_only
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from ..registry import HOOKS
from ..utils.checkpoint import (
    CheckpointError,
    file_problem,
    load_checkpoint,
    newest_intact_checkpoint,
    tensor_bytes,
)
from ..utils.outputs import write_text_atomically, written_atomically
from .data_checks import build_dataloader_clearly, check_num_classes
from .hooks import TrainingDivergedError


def rng_state() -> dict:
    """The random generators a training step draws from (data augmentation in the main process,
    dropout, drop path), as plain data a weights-only load accepts."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available() and \
            len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state['cuda'])


class _DropLines(logging.Filter):

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def _is_local(path: str, backend_args=None) -> bool:
    return isinstance(get_file_backend(path, backend_args=backend_args), LocalBackend)


class CrashSafeRunner(Runner):
    """mmengine's Runner with atomic checkpoint saves and a resume that skips damaged files."""

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, file_client_args=None,
                        backend_args=None, **kwargs) -> None:
        if file_client_args is not None or not _is_local(out_dir, backend_args):
            return super().save_checkpoint(out_dir, filename, file_client_args,
                                           backend_args=backend_args, **kwargs)
        with written_atomically(osp.join(out_dir, filename), self._checkpoint_bytes()) as partial:
            super().save_checkpoint(out_dir, osp.basename(partial), backend_args=backend_args,
                                    **kwargs)

    def _checkpoint_bytes(self) -> int:
        """About the size of a checkpoint: the model's and the optimizer's tensors."""
        model = self.model.module if is_model_wrapper(self.model) else self.model
        optimizer = getattr(self, 'optim_wrapper', None)
        return tensor_bytes(model.state_dict()) + (
            tensor_bytes(optimizer.state_dict()) if hasattr(optimizer, 'state_dict') else 0)

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys: list = [(r'^module\.', '')]):  # noqa: B006 (mmengine's)
        """mmengine's, reading the file through :func:`vmlp_mm.utils.checkpoint.load_checkpoint`
        (mmengine's reader has no allowlist for its own checkpoints under torch >= 2.6)."""
        checkpoint = load_checkpoint(filename, map_location=map_location)
        meta = checkpoint.get('meta')
        if self._resume and not (isinstance(meta, dict) and {'epoch', 'iter'} <= set(meta)):
            raise CheckpointError(
                f'--resume: {filename} holds weights only (no training state: epoch, optimizer, '
                'schedulers), so there is no run to continue; start a new run from its weights '
                f'with --cfg-options load_from={filename} instead')
        self._loaded_rng_state = checkpoint.get('rng_state')
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def resume(self, filename: str, *args, **kwargs) -> None:
        """mmengine's, then the random generators as they were at the save (mmengine re-seeds
        them only), so the resumed run draws what the uninterrupted run drew."""
        super().resume(filename, *args, **kwargs)
        if self._loaded_rng_state:
            set_rng_state(self._loaded_rng_state)
            self.logger.info('--resume: random generator states restored from the checkpoint')

    def build_optim_wrapper(self, optim_wrapper):
        """mmengine's, with its one log line per parameter and setting (~90 for a paramwise_cfg
        of norms and layer scales) replaced by one line per parameter group."""
        per_parameter = _DropLines('paramwise_options -- ')
        self.logger.addFilter(per_parameter)
        try:
            built = super().build_optim_wrapper(optim_wrapper)
        finally:
            self.logger.removeFilter(per_parameter)
        wrappers = built.values() if hasattr(built, 'values') else [built]
        for wrapper in wrappers:
            groups = wrapper.optimizer.param_groups
            settings = collections.Counter(
                (g['lr'], g.get('weight_decay', 0.)) for g in groups for _ in g['params'])
            self.logger.info(
                f'{type(wrapper.optimizer).__name__}, {sum(settings.values())} parameter tensors '
                f'in {len(groups)} groups: ' + '; '.join(
                    f'{n} with lr {lr:.3g} and weight decay {wd:.3g}'
                    for (lr, wd), n in sorted(settings.items())))
        return built

    @staticmethod
    def build_dataloader(dataloader, *args, **kwargs):
        """mmengine's, with dataset errors naming the dataset and file (:mod:`.data_checks`)."""
        return build_dataloader_clearly(Runner.build_dataloader, dataloader, *args, **kwargs)

    def load_or_resume(self) -> None:
        # called by train(), val() and test() once their loops (and datasets) are built, before
        # the first iteration: the moment to compare the model's heads with the data
        model = self.model.module if is_model_wrapper(self.model) else self.model
        for split, loop in (('train', self._train_loop), ('val', self._val_loop),
                            ('test', self._test_loop)):
            if hasattr(getattr(loop, 'dataloader', None), 'dataset'):
                check_num_classes(model, loop.dataloader.dataset, split)
        if self._resume and self._load_from is None and not self._has_loaded:
            found, skipped, pointed = newest_intact_checkpoint(self.work_dir)
            for reason in skipped:
                self.logger.warning(f'--resume: skipped {reason}')
            if found is None and skipped:
                raise CheckpointError(
                    f'--resume: no intact checkpoint in {self.work_dir} (skipped: '
                    + '; '.join(skipped) + '). Pass a checkpoint with --resume PATH, or train '
                    'from scratch without --resume.')
            if found is None:
                self.logger.warning(f'--resume: no checkpoint in {self.work_dir} yet, training '
                                    'from the start')
                self._resume = False
            elif pointed and osp.abspath(found) != osp.abspath(pointed):
                self.logger.warning(
                    f'--resume: continuing from {found}, the newest intact checkpoint, not from '
                    f'{pointed} named by last_checkpoint ('
                    + (file_problem(pointed, verify_data=True) or
                       'older: the run ended between saving and updating the pointer') + ')')
            self._load_from = found
        super().load_or_resume()


@HOOKS.register_module()
class CrashSafeCheckpointHook(CheckpointHook):
    """mmengine's CheckpointHook, in the order that never loses the last good checkpoint:
    save the new one (atomically, by :class:`CrashSafeRunner`), point ``last_checkpoint`` at it,
    and only then delete the checkpoints that ``max_keep_ckpts`` expires."""

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.max_keep_ckpts > 0:  # mmengine's deque drops ids silently at maxlen; we delete them
            self.keep_ckpt_ids = type(self.keep_ckpt_ids)(self.keep_ckpt_ids)

    @staticmethod
    def _refuse_diverged_weights(runner) -> None:
        """A model with NaN or infinite weights is not saved: the checkpoint would be the newest,
        and unusable (vmlp_mm's loader refuses it); the last good one stays the newest."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        bad = [name for name, value in model.state_dict().items()
               if value.is_floating_point() and not bool(torch.isfinite(value).all())]
        if bad:
            last = runner.message_hub.get_info('last_ckpt')
            raise TrainingDivergedError(
                f'the weights became non-finite (NaN or inf) by iteration {runner.iter} '
                f'({len(bad)} tensors, first {bad[0]}): training diverged, nothing saved; '
                + (f'resume from {last} (--resume) ' if last else 'start again ')
                + 'with a lower learning rate or a longer warmup, or check the data')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = rng_state()  # restored by CrashSafeRunner.resume

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        expired = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            self.keep_ckpt_ids.append(step)
            while len(self.keep_ckpt_ids) > self.max_keep_ckpts:
                expired.append(self.keep_ckpt_ids.popleft())
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        self._refuse_diverged_weights(runner)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, filename, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args,
                               **self.args)
        if not is_main_process():
            return
        write_text_atomically(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in expired:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)
