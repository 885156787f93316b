"""Bad input, category by category: each gets an error that names the problem and the fix.
The messages are asserted, not only the exception types."""
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

import vmlp_mm  # noqa: F401
from vmlp_mm.engine.data_checks import (
    SKIP_ENV,
    DatasetError,
    build_dataloader_clearly,
    check_num_classes,
)
from vmlp_mm.engine.runner import Runner
from vmlp_mm.utils.launch import load_config
from vmlp_testing import BACKBONES, cls_config, seg_config

CLS_CONFIG = cls_config('msmlp')
SEG_CONFIG = seg_config('msmlp')


# -- --cfg-options and schedules -------------------------------------------------------------------
CFG_OPTIONS = {
    'top-level typo': ({'trian_cfg.max_epochs': 2},
                       "has no key 'trian_cfg'; did you mean train_cfg"),
    'leaf typo': ({'train_cfg.max_epoch': 2}, "did you mean train_cfg.max_epochs"),
    'section typo': ({'default_hooks.chekpoint.interval': 1},
                     "default_hooks has no key 'chekpoint'; did you mean default_hooks.checkpoint"),
    'index out of range': ({'param_scheduler.5.begin': 0}, 'is a list of 2'),
    'through a value': ({'train_cfg.max_epochs.x': 1}, 'is 8, not a dict; set it whole'),
    'unknown section': ({'foo.bar': 1}, "the config has no key 'foo'"),
}


@pytest.mark.parametrize('options,message', CFG_OPTIONS.values(), ids=CFG_OPTIONS.keys())
def test_cfg_options_that_name_no_key_are_refused(repo_root, options, message):
    with pytest.raises(ValueError, match=message):
        load_config(osp.join(repo_root, CLS_CONFIG), options, 'none')


@pytest.mark.parametrize('options', [
    {'model.backbone.with_cp': True},          # a new argument of an existing dict
    {'randomness.seed': 0},                    # a Runner argument the config leaves out
    {'train_dataloader.dataset.indices': 8},
    {'param_scheduler.1.eta_min': 0.},
], ids=['new argument', 'runner argument', 'dataset argument', 'list index'])
def test_cfg_options_that_add_arguments_are_accepted(repo_root, options):
    load_config(osp.join(repo_root, CLS_CONFIG), options, 'none')


def test_a_run_shorter_than_the_warmup_leaves_out_the_schedulers_it_never_reaches(repo_root):
    cfg = load_config(osp.join(repo_root, CLS_CONFIG), {'train_cfg.max_epochs': 1}, 'none')
    assert [s['type'] for s in cfg.param_scheduler] == ['LinearLR']
    cfg = load_config(osp.join(repo_root, CLS_CONFIG), {'train_cfg.max_epochs': 2}, 'none')
    assert [s['type'] for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR']


def test_a_missing_config_names_the_path(repo_root):
    with pytest.raises(FileNotFoundError, match='no config file at configs/nope.py'):
        load_config('configs/nope.py', None, 'none')


# -- backbone arguments ----------------------------------------------------------------------------
ARGUMENTS = {
    'drop_path_rate 1': (dict(drop_path_rate=1.0), r'drop_path_rate must be in \[0, 1\)'),
    'drop_path_rate < 0': (dict(drop_path_rate=-0.1), r'drop_path_rate must be in \[0, 1\)'),
    'duplicate out_indices': (dict(out_indices=(1, 1)), 'name stage 1 twice'),
    'same stage twice': (dict(out_indices=(3, -1)), 'name stage 3 twice'),
    'out_indices out of range': (dict(out_indices=(4, )), 'out of range for 4 stages'),
    'frozen_stages': (dict(frozen_stages=5), r'frozen_stages must be in \[-1, 4\]'),
    'arch': (dict(arch='nanoo'), "Unknown arch 'nanoo'"),
    'in_channels': (dict(in_channels=0), 'in_channels must be a positive int'),
}


@pytest.mark.parametrize('backbone', BACKBONES, ids=lambda b: b.__name__)
@pytest.mark.parametrize('kwargs,message', ARGUMENTS.values(), ids=ARGUMENTS.keys())
def test_backbone_arguments_out_of_range(backbone, kwargs, message):
    kwargs = dict(dict(arch='nano'), **kwargs)
    with pytest.raises(ValueError, match=message):
        backbone(**kwargs)


@pytest.mark.parametrize('backbone', BACKBONES, ids=lambda b: b.__name__)
def test_inputs_below_the_smallest_size_say_the_limit(backbone):
    model = backbone('nano').eval()
    limit = model.min_input_size
    with torch.no_grad():
        model(torch.randn(1, 3, limit, limit + 5))
        if limit > 1:
            with pytest.raises(ValueError, match=f'at least {limit}x{limit} pixels, got'):
                model(torch.randn(1, 3, limit - 1, 64))
        with pytest.raises(ValueError, match=r'expects \[N, 3, H, W\] images'):
            model(torch.randn(1, 1, 32, 32))


# -- datasets --------------------------------------------------------------------------------------
def loader(dataset):
    return dict(batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=dataset)


def digits(root, **kwargs):
    return dict(type='mmpretrain.CustomDataset', data_root=root, pipeline=[], **kwargs)


def shapes_ade(root):
    return dict(type='mmseg.BaseSegDataset', data_root=root, pipeline=[], img_suffix='.jpg',
                seg_map_suffix='.png', metainfo=dict(classes=('bg', 'a', 'b', 'c')),
                data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'))


def shapes_coco(root, ann_file='annotations/instances_train2017.json',
                classes=('square', 'circle', 'triangle')):
    return dict(type='mmdet.CocoDataset', data_root=root, ann_file=ann_file, pipeline=[],
                data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=True),
                metainfo=dict(classes=classes))


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


@pytest.fixture(scope='module')
def broken(demo_data, tmp_path_factory):
    """Copies of the demo data with one thing wrong each."""
    root = tmp_path_factory.mktemp('broken')
    shutil.copytree(osp.join(demo_data, 'digits', 'train'), root / 'digits' / 'train')
    (root / 'empty' / 'train').mkdir(parents=True)
    ade = root / 'ade'
    shutil.copytree(osp.join(demo_data, 'shapes_ade'), ade)
    os.remove(sorted((ade / 'annotations' / 'training').iterdir())[0])
    coco = root / 'coco'
    shutil.copytree(osp.join(demo_data, 'shapes_coco'), coco)
    os.remove(sorted((coco / 'train2017').iterdir())[0])
    write(root / 'ann_bad.txt', 'a line without a label\n')
    write(root / 'ann_missing_image.txt', '0/nope.png 0\n')
    write(root / 'empty.json', '')
    write(root / 'cut.json', '{"images": [')
    return root


DATASETS = {
    'missing root': (lambda r: digits(str(r / 'nope'), data_prefix='train'),
                     r'No such file or directory: .*nope/train; check data_root'),
    'empty folder': (lambda r: digits(str(r / 'empty'), data_prefix='train'), 'Found 0 files'),
    'missing annotation file': (lambda r: digits(str(r / 'digits'), ann_file=str(r / 'no.txt'),
                                                 data_prefix='train'), r'no\.txt'),
    'malformed annotation line': (lambda r: digits(str(r / 'digits'), data_prefix='train',
                                                   ann_file=str(r / 'ann_bad.txt')),
                                  r"ann_bad\.txt.*invalid literal for int\(\)"),
    'annotation names a missing image': (
        lambda r: digits(str(r / 'digits'), data_prefix='train',
                         ann_file=str(r / 'ann_missing_image.txt')),
        r'train/0/nope\.png does not exist \(a file its annotations list\)'),
    'missing segmentation map': (lambda r: shapes_ade(str(r / 'ade')),
                                 r'annotations/training/\S+\.png does not exist'),
    'empty json': (lambda r: shapes_coco(str(r / 'coco'), str(r / 'empty.json')),
                   r'empty\.json.*not valid JSON .*empty or cut off'),
    'cut json': (lambda r: shapes_coco(str(r / 'coco'), str(r / 'cut.json')),
                 r'cut\.json.*not valid JSON'),
    'missing image': (lambda r: shapes_coco(str(r / 'coco')), r'train2017/\S+\.jpg does not exist'),
    'classes not in the annotations': (
        lambda r: shapes_coco(str(r / 'coco'), classes=('cat', 'dog')),
        r"has no samples \(after filtering\); are its metainfo classes \['cat', 'dog'\]"),
}


@pytest.mark.parametrize('make,message', DATASETS.values(), ids=DATASETS.keys())
def test_dataset_problems_name_the_dataset_and_file(broken, make, message):
    init_default_scope('mmpretrain')
    with pytest.raises(DatasetError, match=message):
        build_dataloader_clearly(Runner.build_dataloader, loader(make(broken)))


def test_a_head_with_another_number_of_classes(demo_data):
    init_default_scope('mmpretrain')
    dataset = build_dataloader_clearly(
        Runner.build_dataloader,
        loader(digits(osp.join(demo_data, 'digits'), data_prefix='train'))).dataset
    model = torch.nn.Module()
    model.head = torch.nn.Module()
    model.head.num_classes = 5
    with pytest.raises(DatasetError, match=r'model.head.num_classes is 5, but the train dataset '
                       r'has 10 classes .*set model.head.num_classes=10'):
        check_num_classes(model, dataset, 'train')


def test_a_segmentation_loss_weighing_another_number_of_classes(demo_data):
    from mmseg.models.losses import CrossEntropyLoss
    init_default_scope('mmseg')
    dataset = build_dataloader_clearly(
        Runner.build_dataloader, loader(shapes_ade(osp.join(demo_data, 'shapes_ade')))).dataset
    model = torch.nn.Module()
    model.decode_head = torch.nn.Module()
    model.decode_head.num_classes = 4
    model.decode_head.loss_decode = torch.nn.ModuleList(
        [CrossEntropyLoss(), CrossEntropyLoss(class_weight=[0.5, 1.0, 1.0])])
    with pytest.raises(DatasetError, match=r'model.decode_head.loss_decode.class_weight has 3 '
                       r'entries, but the train dataset has 4 classes; give one weight per class'):
        check_num_classes(model, dataset, 'train')
    model.decode_head.loss_decode[1] = CrossEntropyLoss(class_weight=[0.5, 1.0, 1.0, 1.0])
    check_num_classes(model, dataset, 'train')


# -- distributed launch ----------------------------------------------------------------------------
def test_a_busy_port_names_the_variable(repo_root):
    with socket.socket() as busy:
        busy.bind(('', 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(['bash', 'tools/dist_train.sh', CLS_CONFIG, '2'], cwd=repo_root,
                                capture_output=True, text=True,
                                env=dict(os.environ, PORT=str(port), PYTHON=sys.executable))
    assert result.returncode == 1
    assert f'port {port} is in use' in result.stderr and f'PORT={port + 1}' in result.stderr


# -- bad samples: found before training, named with counts; an error unless skipped ---------------
def _truncate(path):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 3])


def _seg_map(path, change):
    from PIL import Image
    array = np.array(Image.open(path))
    Image.fromarray(change(array)).save(path)


def _coco_edit(root, change):
    path = root / 'annotations' / 'instances_train2017.json'
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _first(folder):
    return str(sorted(folder.iterdir())[0])


BAD_SAMPLES = {
    'truncated image': (
        lambda r: (_truncate(_first(r / 'digits' / 'train' / '4')),
                   digits(str(r / 'digits'), data_prefix='train')),
        r'1 unreadable images: \S+/train/4/\S+\.png cannot be decoded'),
    'empty image': (
        lambda r: (open(_first(r / 'digits' / 'train' / '2'), 'wb').close(),
                   digits(str(r / 'digits'), data_prefix='train')),
        r'1 unreadable images: \S+/train/2/\S+\.png is empty \(0 bytes\)'),
    'label beyond the classes': (
        lambda r: (write(r / 'labels.txt', '0/' + osp.basename(_first(r / 'digits' / 'train' / '0'))
                         + ' 12\n'),
                   digits(str(r / 'digits'), data_prefix='train', ann_file=str(r / 'labels.txt'),
                          classes=[str(i) for i in range(10)])),
        r'1 labels outside the classes: \S+ has label 12 of 10 classes'),
    'map labels beyond the classes': (
        lambda r: (_seg_map(_first(r / 'ade' / 'annotations' / 'training'),
                            lambda a: np.where(a == 0, 9, a).astype(np.uint8)),
                   shapes_ade(str(r / 'ade'))),
        r'1 unusable segmentation maps: \S+\.png holds labels \[9\] outside the 4 classes'),
    '16-bit map': (
        lambda r: (_seg_map(_first(r / 'ade' / 'annotations' / 'training'),
                            lambda a: a.astype(np.uint16) * 256), shapes_ade(str(r / 'ade'))),
        r'\.png is a 16-bit map \(mode I;16\): mmseg casts it to 8 bits'),
    'map of another size': (
        lambda r: (_seg_map(_first(r / 'ade' / 'annotations' / 'training'),
                            lambda a: a[:a.shape[0] // 2]), shapes_ade(str(r / 'ade'))),
        r'\.png is 128x64, its image \S+\.jpg 128x128'),
    'box of zero width': (
        lambda r: (_coco_edit(r / 'coco', lambda d: d['annotations'][0]['bbox'].__setitem__(2, 0)),
                   shapes_coco(str(r / 'coco'))),
        r'1 annotations with boxes of zero or negative size .*: 00000\.jpg'),
    'box outside the image': (
        lambda r: (_coco_edit(r / 'coco', lambda d: d['annotations'][1].__setitem__(
            'bbox', [500, 500, 20, 20])), shapes_coco(str(r / 'coco'))),
        r'1 annotations with boxes outside their image: \S+ \[500, 500, 20, 20\] in 128x128'),
    'unknown category': (
        lambda r: (_coco_edit(r / 'coco', lambda d: d['annotations'][2].__setitem__(
            'category_id', 17)), shapes_coco(str(r / 'coco'))),
        r'1 annotations of categories the file does not define: \S+ category_id=17'),
    'image size unlike the file': (
        lambda r: (_coco_edit(r / 'coco', lambda d: d['images'][0].update(height=64)),
                   shapes_coco(str(r / 'coco'))),
        r'on images whose size differs from the file .*00000\.jpg: annotations 128x64, file '
        r'128x128'),
}


@pytest.fixture
def fresh_copy(demo_data, tmp_path):
    """Small copies of the demo datasets, to break one thing in."""
    for split, count in (('train', 3), ):
        for label in range(10):
            source = osp.join(demo_data, 'digits', split, str(label))
            target = tmp_path / 'digits' / split / str(label)
            target.mkdir(parents=True)
            for name in sorted(os.listdir(source))[:count]:
                shutil.copy(osp.join(source, name), target)
    for kind in ('images', 'annotations'):
        source = osp.join(demo_data, 'shapes_ade', kind, 'training')
        target = tmp_path / 'ade' / kind / 'training'
        target.mkdir(parents=True)
        for name in sorted(os.listdir(source))[:4]:
            shutil.copy(osp.join(source, name), target)
    shutil.copytree(osp.join(demo_data, 'shapes_coco'), tmp_path / 'coco')
    return tmp_path


@pytest.mark.parametrize('make,message', BAD_SAMPLES.values(), ids=BAD_SAMPLES.keys())
def test_bad_samples_are_an_error_naming_them(fresh_copy, make, message, monkeypatch):
    monkeypatch.delenv(SKIP_ENV, raising=False)
    init_default_scope('mmpretrain')
    _, dataset = make(fresh_copy)
    with pytest.raises(DatasetError, match=message) as error:
        build_dataloader_clearly(Runner.build_dataloader, loader(dataset))
    assert '--skip-bad-samples' in str(error.value)


@pytest.mark.parametrize('name', ['truncated image', 'map labels beyond the classes',
                                  'box of zero width'])
def test_skipping_bad_samples_leaves_them_out_with_a_warning(fresh_copy, name, monkeypatch,
                                                             caplog):
    monkeypatch.setenv(SKIP_ENV, '1')
    init_default_scope('mmpretrain')
    make, message = BAD_SAMPLES[name]
    _, dataset_cfg = make(fresh_copy)
    built = Runner.build_dataloader(loader(dataset_cfg)).dataset
    dataset = build_dataloader_clearly(Runner.build_dataloader, loader(dataset_cfg)).dataset
    boxes_only = name == 'box of zero width'  # mmdet drops the annotation, the image stays
    assert len(dataset) == len(built) - (0 if boxes_only else 1)


def test_a_sample_that_fails_later_names_its_file(fresh_copy):
    init_default_scope('mmpretrain')
    path = _first(fresh_copy / 'digits' / 'train' / '5')
    dataset = build_dataloader_clearly(Runner.build_dataloader, loader(
        dict(digits(str(fresh_copy / 'digits'), data_prefix='train'),
             pipeline=[dict(type='LoadImageFromFile')]))).dataset
    open(path, 'wb').close()  # damaged after the check
    index = next(i for i in range(len(dataset)) if dataset.get_data_info(i)['img_path'] == path)
    with pytest.raises(DatasetError, match=f'the sample {path} fails in the pipeline .*replace or '
                       'remove the file'):
        dataset[index]


def test_config_values_of_the_wrong_kind_are_refused(repo_root):
    with pytest.raises(ValueError, match=r'train_cfg.max_epochs=abc: the config has 8 there, a '
                       'number'):
        load_config(osp.join(repo_root, CLS_CONFIG), {'train_cfg.max_epochs': 'abc'}, 'none')


def test_cfg_options_take_dicts_and_name_values_they_cannot_read(capsys):
    import argparse

    from vmlp_mm.utils.launch import add_cfg_options_argument
    parser = argparse.ArgumentParser()
    add_cfg_options_argument(parser, '')
    args = parser.parse_args(['--cfg-options', 'model.backbone.init_cfg=dict(type="Pretrained",'
                              'checkpoint="a.pth",prefix="backbone.")', 'a.b=[1,2]'])
    assert args.cfg_options == {'model.backbone.init_cfg': dict(
        type='Pretrained', checkpoint='a.pth', prefix='backbone.'), 'a.b': [1, 2]}
    with pytest.raises(SystemExit):
        parser.parse_args(['--cfg-options', 'a=dict(b=__import__("os"))'])
    assert 'a=dict(b=__import__("os")): cannot read the value' in capsys.readouterr().err


def test_a_diverged_loss_stops_the_run_naming_the_iteration_and_checkpoint():
    from types import SimpleNamespace

    from mmengine.logging import MessageHub

    from vmlp_mm.engine import FiniteLossHook
    hub = MessageHub.get_instance('finite_loss_test')
    hub.update_info('last_ckpt', 'work/epoch_3.pth')
    runner = SimpleNamespace(iter=41, epoch=3, message_hub=hub)
    FiniteLossHook().after_train_iter(runner, 0, outputs={'loss': torch.tensor(2.5)})
    with pytest.raises(ValueError, match=r'the training loss is nan at iteration 42 \(epoch 4\): '
                       r'training diverged; resume from work/epoch_3.pth \(--resume\) with a '
                       'lower learning rate'):
        FiniteLossHook().after_train_iter(runner, 0, outputs={'loss': torch.tensor(float('nan'))})


def test_diverged_weights_are_not_saved_over_the_last_good_checkpoint():
    from types import SimpleNamespace

    from mmengine.logging import MessageHub

    from vmlp_mm.engine import CrashSafeCheckpointHook
    hub = MessageHub.get_instance('diverged_save_test')
    model = torch.nn.Linear(2, 2)
    runner = SimpleNamespace(model=model, iter=7, message_hub=hub)
    CrashSafeCheckpointHook._refuse_diverged_weights(runner)
    with torch.no_grad():
        model.bias[0] = float('inf')
    with pytest.raises(ValueError, match=r'weights became non-finite \(NaN or inf\) by iteration '
                       r'7 \(1 tensors, first bias\): training diverged, nothing saved; start '
                       'again'):
        CrashSafeCheckpointHook._refuse_diverged_weights(runner)
