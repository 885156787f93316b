"""Hooks vmlp_mm's tools add to every run."""
from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper

from ..registry import HOOKS
from ..utils.checkpoint import CheckpointMismatchError, state_dict_problems


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
        state_dict = checkpoint.get('state_dict', checkpoint)
        problems = state_dict_problems(state_dict, model.state_dict())
        if not problems:
            return
        backbone = getattr(model, 'backbone', None)
        hint = backbone._pretrained_mismatch_hint(
            {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')}
        ) if hasattr(backbone, '_pretrained_mismatch_hint') else ''
        raise CheckpointMismatchError('the checkpoint does not fit the model of the config: '
                                      + '; '.join(problems) + hint)
