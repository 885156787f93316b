"""vmlp_mm.utils.checkpoint: wrapped checkpoints load, unreadable ones give one clear error, and
an accepted checkpoint cannot change anything besides the object it returns."""
import os
import pickle
import zipfile

import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.model import BaseModule

import vmlp_mm  # noqa: F401
from vmlp_mm.backbones import MSMLP
from vmlp_mm.utils.checkpoint import (
    CheckpointError,
    load_checkpoint,
    newest_intact_checkpoint,
    save_atomically,
    weights_of,
)


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
    model.load_state_dict(weights_of(load_checkpoint(path)), strict=True)
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


def runner_like_checkpoint(path):
    """What mmengine's Runner saves besides weights: a message hub of HistoryBuffers."""
    hub = MessageHub('test_checkpoint')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 0.5)
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': {'epoch': 1, 'iter': 4},
                'message_hub': hub.state_dict()}, path)


def test_runner_checkpoints_load_without_changing_torch(tmp_path):
    path = str(tmp_path / 'runner.pth')
    runner_like_checkpoint(path)
    before = set(map(repr, torch.serialization.get_safe_globals()))
    checkpoint = load_checkpoint(path)
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.mean() == 1.0
    assert set(map(repr, torch.serialization.get_safe_globals())) == before  # nothing global
    with pytest.raises(pickle.UnpicklingError):  # so plain torch.load still refuses it
        torch.load(path, weights_only=True)


# -- unreadable files: one error naming the file and the problem, never torch's advice ------------
def write_bytes(data):
    return lambda path: open(path, 'wb').write(data)


def truncated(path):
    runner_like_checkpoint(path)
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])


def corrupted_record(path):
    """Intact archive directory, one stored record's bytes flipped (checksum fails)."""
    torch.save({'w': torch.arange(4096.)}, path)
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith('/data/0'))
    data = bytearray(open(path, 'rb').read())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 100:start + 200] = bytes(100)
    open(path, 'wb').write(bytes(data))


UNREADABLE = {
    'missing': (lambda path: None, 'does not exist'),
    'folder': (os.mkdir, 'is a folder'),
    'empty': (write_bytes(b''), r'is empty \(0 bytes\)'),
    'random bytes': (write_bytes(bytes(range(7, 250))), 'is not a PyTorch checkpoint'),
    'truncated': (truncated, 'is truncated or damaged'),
    'zip without data.pkl': (lambda p: zipfile.ZipFile(p, 'w').writestr('a.txt', 'x'),
                             'not a PyTorch checkpoint'),
    'plain pickle': (lambda p: pickle.dump({'w': 1}, open(p, 'wb')), 'not a torch.save'),
    'a list': (lambda p: torch.save([torch.ones(1)], p), 'holds a list, not a checkpoint'),
    'no tensors': (lambda p: torch.save({'epoch': 3}, p), 'holds no weights'),
    'code object': (lambda p: torch.save({'w': torch.ones(1), 'f': os.getcwd}, p),
                    'needs more than weights, which could run code'),
}


@pytest.mark.parametrize('make,message', UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_checkpoints_give_one_clear_error(tmp_path, make, message):
    path = str(tmp_path / 'bad.pth')
    make(path)
    with pytest.raises(CheckpointError, match=message) as error:
        load_checkpoint(path)
    assert path in str(error.value)
    assert 'weights_only=False will likely succeed' not in str(error.value)
    assert 'Re-running' not in str(error.value)


def test_a_damaged_record_is_found_by_the_resume_check(tmp_path):
    corrupted_record(str(tmp_path / 'epoch_2.pth'))
    os.utime(tmp_path / 'epoch_2.pth', (2e9, 2e9))
    save_atomically({'state_dict': {'w': torch.ones(1)}}, str(tmp_path / 'epoch_1.pth'))
    found, skipped, _ = newest_intact_checkpoint(str(tmp_path))
    assert found == str(tmp_path / 'epoch_1.pth')
    assert len(skipped) == 1 and 'epoch_2.pth is damaged' in skipped[0]


# -- crafted files: what the allowlist lets through cannot reach further ---------------------------
class Reach:
    """Pickles as ``getattr(owner, name)``, as HistoryBuffer's statistics table does."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


class SetItems:
    """Pickles as ``target`` updated with ``items`` (pickle's SETITEMS on a reached dict)."""

    def __init__(self, target, items):
        self.target, self.items = target, items

    def __reduce__(self):
        return dict.update, (self.target, self.items)


CRAFTED = {
    # HistoryBuffer's class dict, where a file could register statistics for every process user
    'class attribute table': Reach(HistoryBuffer, '_statistics_methods'),
    # a method's globals: the module namespace of mmengine.logging.history_buffer
    'function globals': Reach(HistoryBuffer.min, '__globals__'),
    'dunder of the class': Reach(HistoryBuffer, '__init__'),
    'another class': Reach(MessageHub, 'get_current_instance'),
    'a torch class': Reach(torch.Tensor, 'add_'),
}


@pytest.mark.parametrize('payload', CRAFTED.values(), ids=CRAFTED.keys())
def test_crafted_checkpoints_cannot_reach_process_state(tmp_path, payload):
    path = str(tmp_path / 'crafted.pth')
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': payload}, path)
    methods = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(CheckpointError, match='could run code'):
        load_checkpoint(path)
    assert HistoryBuffer._statistics_methods == methods


def test_crafted_write_through_a_reached_dict_is_refused(tmp_path):
    path = str(tmp_path / 'crafted.pth')
    target = Reach(HistoryBuffer, '_statistics_methods')
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': SetItems(target, {'mean': print})}, path)
    methods = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert HistoryBuffer._statistics_methods == methods


def test_resume_takes_the_newest_intact_checkpoint_over_a_stale_pointer(tmp_path):
    for epoch, stamp in ((1, 1e9), (2, 2e9)):
        save_atomically({'state_dict': {'w': torch.ones(1)}}, str(tmp_path / f'epoch_{epoch}.pth'))
        os.utime(tmp_path / f'epoch_{epoch}.pth', (stamp, stamp))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    found, skipped, pointed = newest_intact_checkpoint(str(tmp_path))
    assert found == str(tmp_path / 'epoch_2.pth') and not skipped
    assert pointed == str(tmp_path / 'epoch_1.pth')


@pytest.mark.parametrize('value', [float('nan'), float('inf')], ids=['nan', 'inf'])
def test_non_finite_weights_are_refused_naming_the_tensors(tmp_path, value):
    path = str(tmp_path / 'diverged.pth')
    torch.save({'state_dict': {'a.weight': torch.ones(2), 'b.weight': torch.tensor([1., value]),
                               'steps': torch.tensor([3])}}, path)
    with pytest.raises(CheckpointError, match=r'diverged.pth holds non-finite weights \(NaN or '
                       r'inf\) in 1 tensors: b.weight; .*use an earlier checkpoint'):
        load_checkpoint(path)
