"""Hooks vmlp_mm's tools add to runs."""
import os
import sys

import torch
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper
from tqdm import tqdm

from ..backbones.base import VisionMLPBackbone
from ..families import convert_official_for, is_official_layout
from ..registry import HOOKS
from ..utils.checkpoint import CheckpointMismatchError, state_dict_problems, weights_of


def is_classifier_of(model, backbone) -> bool:
    """Whether ``model`` is an mmpretrain classifier (linear head ``head.fc``) around one of our
    backbones: the model an authors' checkpoint converts into."""
    return isinstance(backbone, VisionMLPBackbone) and hasattr(getattr(model, 'head', None), 'fc')


@HOOKS.register_module()
class StrictCheckpointHook(Hook):
    """Refuse a checkpoint that does not fit the model, before the Runner loads it.

    mmengine's Runner loads ``load_from`` (tools/test.py's checkpoint) and resumed checkpoints
    with ``strict=False`` and only logs the mismatch, so a checkpoint of another arch or form
    (e.g. re-parameterised weights into a training-time RepMLPNet) would be evaluated or
    finetuned with partly random weights. ``after_load_checkpoint`` sees the checkpoint the
    Runner has just read, so the check costs no second read.
    """
    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if isinstance(model, BaseTTAModel):  # mmengine loads into the wrapped model (--tta)
            model = model.module
        state_dict = state_dict_for(model, weights_of(checkpoint), runner.logger.info)
        if state_dict is not weights_of(checkpoint):
            checkpoint.clear()
            checkpoint['state_dict'] = state_dict


def state_dict_for(model, state_dict: dict, log=print) -> dict:
    """``state_dict`` checked against ``model`` (an mmengine model of any task): the same dict,
    or, for an authors' classifier file and a classifier around their backbone, the file
    converted in memory. Raises :class:`CheckpointMismatchError` with every missing, unexpected
    and mis-shaped key (and the backbone's hint, e.g. which arch the weights are) otherwise."""
    backbone = getattr(model, 'backbone', None)
    if is_official_layout(state_dict) and is_classifier_of(model, backbone):
        state_dict = convert_official_for(backbone, state_dict)
        log(f'the checkpoint has the official {type(backbone).__name__} key layout: converted in '
            'memory (tools/model_converters/ writes the converted file once)')
    problems = state_dict_problems(state_dict, model.state_dict())
    if not problems:
        return state_dict
    hint = backbone._pretrained_mismatch_hint(
        {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')}
    ) if hasattr(backbone, '_pretrained_mismatch_hint') else ''
    raise CheckpointMismatchError('the checkpoint does not fit the model of the config: '
                                  + '; '.join(problems) + hint)


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite."""


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop at the first non-finite loss, naming the iteration and the last good checkpoint.

    mmengine's ``CheckInvalidLossHook`` looks every 50 iterations and fails with an assertion;
    a run that goes on with ``loss: nan`` only writes checkpoints of NaN weights (which
    vmlp_mm's loader then refuses). The check reads the loss the logger reads anyway.
    """
    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loss = outputs.get('loss') if isinstance(outputs, dict) else None
        if loss is None or bool(torch.isfinite(torch.as_tensor(loss)).all()):
            return
        last = runner.message_hub.get_info('last_ckpt')
        raise TrainingDivergedError(
            f'the training loss is {float(torch.as_tensor(loss).float().mean())} at iteration '
            f'{runner.iter + 1} (epoch {runner.epoch + 1}): training diverged; '
            + (f'resume from {last} (--resume) ' if last else 'start again ')
            + 'with a lower learning rate or a longer warmup, or check the data')


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """One updating line per phase (``--progress`` of tools/train.py and tools/test.py): the
    iterations done of the total, the latest loss, the rate and the time left (tqdm).

    mmengine's LoggerHook prints every ``interval`` iterations to the log, which a caller such as
    tools/run_demo.py sends to a file; this bar goes to the terminal instead, to the file
    descriptor in ``VMLP_PROGRESS_FD`` when set (run_demo passes its own stderr through), else to
    stderr. Only the main process draws.
    """
    priority = 'VERY_LOW'

    def __init__(self):
        self._bar = self._train_bar = None

    @staticmethod
    def _stream():
        fd = os.environ.get('VMLP_PROGRESS_FD')
        return os.fdopen(int(fd), 'w', closefd=False) if fd else sys.stderr

    @master_only
    def _open(self, phase: str, total: int, done: int = 0, leave: bool = True) -> None:
        self._bar = tqdm(total=total, initial=done, desc=phase, unit='it', file=self._stream(),
                         dynamic_ncols=True, leave=leave, mininterval=0.5)

    @master_only
    def _step(self, outputs=None) -> None:
        if self._bar is None:
            return
        loss = outputs.get('loss') if isinstance(outputs, dict) else None
        if loss is not None:
            value = loss.item() if hasattr(loss, 'item') else float(loss)
            self._bar.set_postfix(loss=f'{value:.4f}', refresh=False)
        self._bar.update(1)

    @master_only
    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def before_train(self, runner) -> None:
        self._open('train', runner.max_iters, runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step(outputs)

    def before_val_epoch(self, runner) -> None:
        # validation interrupts the training bar; it continues on a new line afterwards
        self._train_bar, self._bar = self._bar, None
        self._open('val', len(runner.val_dataloader), leave=False)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._close()
        self._bar = self._train_bar

    def before_test_epoch(self, runner) -> None:
        self._open('test', len(runner.test_dataloader))

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._close()

    def after_train(self, runner) -> None:
        self._close()
