"""Checkpoints load through mmengine whatever wrapped the model that saved them."""
import pytest
import torch
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import load_checkpoint

import vmlp_mm  # noqa: F401  (installs the loader)
from vmlp_mm.backbones import MSMLP


class Classifier(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = MSMLP('nano')
        self.head = torch.nn.Linear(256, 10)


def saved_with_prefix(path, prefix_of, meta=True):
    torch.manual_seed(0)
    model = Classifier()
    state = {prefix_of(k): v for k, v in model.state_dict().items()}
    torch.save({'state_dict': state, 'meta': {'epoch': 1}} if meta else state, path)
    return model


@pytest.mark.parametrize('prefix_of', [
    lambda k: 'module.' + k,                            # DistributedDataParallel
    lambda k: '_orig_mod.' + k,                         # torch.compile(model)
    lambda k: 'module._orig_mod.' + k,                  # both
    lambda k: k.replace('backbone.', 'backbone._orig_mod.', 1),  # torch.compile(model.backbone)
], ids=['ddp', 'compile', 'ddp+compile', 'compiled-submodule'])
@pytest.mark.parametrize('meta', [True, False], ids=['mmengine', 'raw'])
def test_wrapped_checkpoints_load_strictly(tmp_path, prefix_of, meta):
    path = str(tmp_path / 'ckpt.pth')
    saved = saved_with_prefix(path, prefix_of, meta)
    model = Classifier()
    load_checkpoint(model, path, strict=True)
    for (name, a), b in zip(saved.state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_pretrained_init_with_prefix_from_compiled_checkpoint(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    saved = saved_with_prefix(path, lambda k: 'module._orig_mod.' + k)
    backbone = MSMLP('nano', init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    assert isinstance(backbone, BaseModule)
    backbone.init_weights()
    torch.testing.assert_close(backbone.stages[2].blocks[1].pwconv1.weight,
                               saved.backbone.stages[2].blocks[1].pwconv1.weight)
