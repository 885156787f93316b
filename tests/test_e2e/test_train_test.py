"""End-to-end: the tools train each task a few iterations on the demo data and evaluate."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from vmlp_mm.utils.checkpoint import load_checkpoint
from vmlp_testing import (
    CLS_SHORT,
    DET_SHORT,
    FAMILY_NAMES,
    SEG_SHORT,
    build_config_classifier,
    cls_config,
    demo_config,
    det_config,
    last_checkpoint,
    quick_first,
    run_tool,
    seg_config,
)


# the quick tier trains MS-MLP through every task; make test-all every family
@pytest.fixture(scope='module', params=quick_first(FAMILY_NAMES))
def model(request):
    return request.param


def dense_precision(model):
    """The flags of a family's segmentation and detection runs: float32 for MS-MLP, whose AMP
    runs are tests of their own; ``--amp`` (bfloat16 autocast) for the others, so one run covers
    the tools and the mixed-precision path (test_full_configs_train trains every family's
    full-scale dense models in float32)."""
    return [] if model == FAMILY_NAMES[0] else ['--amp']


@pytest.fixture(scope='module')
def cls_checkpoint(repo_root, demo_data, tmp_path_factory, model):
    work_dir = str(tmp_path_factory.mktemp(f'cls_{model}'))
    run_tool(repo_root, 'tools/train.py', cls_config(model), '--work-dir', work_dir,
             '--cfg-options', *CLS_SHORT)
    return last_checkpoint(work_dir)


def test_classification_trains_and_evaluates(repo_root, model, cls_checkpoint, tmp_path):
    metrics_file = tmp_path / 'metrics.json'
    result = run_tool(repo_root, 'tools/test.py', cls_config(model), cls_checkpoint,
                      '--work-dir', str(tmp_path), '--out-metrics', str(metrics_file), '--progress',
                      '--cfg-options', 'test_dataloader.dataset.indices=32')
    assert 0 <= json.loads(metrics_file.read_text())['accuracy/top1'] <= 100
    assert 'test: 100%' in result.stderr  # --progress: its bar on stderr


@pytest.fixture(scope='module')
def seg_run(repo_root, model, cls_checkpoint, tmp_path_factory):
    """The family's UperNet trained from its classifier: the log and the work dir."""
    work_dir = str(tmp_path_factory.mktemp(f'seg_{model}'))
    result = run_tool(repo_root, 'tools/train.py', seg_config(model), '--work-dir', work_dir,
                      *dense_precision(model),
                      '--cfg-options', f'model.backbone.init_cfg.checkpoint={cls_checkpoint}',
                      *SEG_SHORT)
    return result.stdout + result.stderr, work_dir


def test_segmentation_from_classification_checkpoint(model, cls_checkpoint, seg_run):
    log, work_dir = seg_run
    assert f'load backbone. in model from: {cls_checkpoint}' in log
    assert 'mIoU' in log
    # the backbone weights really come from the classifier (stem is not updated much in 4 iters)
    classifier = load_checkpoint(cls_checkpoint)['state_dict']
    segmentor = load_checkpoint(last_checkpoint(work_dir))['state_dict']
    stem = next(k for k in classifier if k.startswith('backbone.patch_embed.')
                and k.endswith('.weight') and classifier[k].dim() == 4)
    assert torch.allclose(classifier[stem], segmentor[stem], atol=1e-2)


def test_detection_trains_and_evaluates(repo_root, model, cls_checkpoint, tmp_path):
    result = run_tool(repo_root, 'tools/train.py', det_config(model), '--work-dir',
                      str(tmp_path), *dense_precision(model),
                      '--cfg-options', f'model.backbone.init_cfg.checkpoint={cls_checkpoint}',
                      *DET_SHORT)
    assert 'coco/bbox_mAP' in result.stdout + result.stderr
    metrics_file = tmp_path / 'metrics.json'
    run_tool(repo_root, 'tools/test.py', det_config(model), last_checkpoint(str(tmp_path)),
             '--work-dir', str(tmp_path / 'test'), '--out-metrics', str(metrics_file),
             *dense_precision(model), '--cfg-options', 'test_dataloader.dataset.indices=4')
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(json.loads(metrics_file.read_text()))


def test_reparameterized_checkpoints_give_the_same_metrics(repo_root, cls_checkpoint, model,
                                                           seg_run, tmp_path):
    """tools/model_converters/reparameterize.py on a classifier and on a UperNet checkpoint;
    the deploy configs load them strictly and evaluate to the same metrics."""
    if model != 'repmlp':
        pytest.skip('only RepMLPNet is re-parameterisable')
    cases = [(cls_config(model), cls_checkpoint, ['test_dataloader.dataset.indices=32']),
             (seg_config(model), last_checkpoint(seg_run[1]),
              ['test_dataloader.dataset.indices=4', 'model.backbone.init_cfg=None'])]
    deployed_checkpoints = []
    for i, (config, checkpoint, options) in enumerate(cases):
        deployed = str(tmp_path / f'deploy{i}.pth')
        deployed_checkpoints.append(deployed)
        result = run_tool(repo_root, 'tools/model_converters/reparameterize.py', config,
                          checkpoint, deployed)
        assert 'model.backbone.deploy=True' in result.stdout
        metrics = []
        for ckpt, extra in [(checkpoint, []), (deployed, ['model.backbone.deploy=True'])]:
            out = tmp_path / f'metrics{i}{len(extra)}.json'
            run_tool(repo_root, 'tools/test.py', config, ckpt, '--work-dir', str(tmp_path / 'w'),
                     '--out-metrics', str(out), '--cfg-options', *options, *extra)
            metrics.append(json.loads(out.read_text()))
        assert metrics[0] == pytest.approx(metrics[1], abs=1e-3)
    # a deploy checkpoint where the training-time model is expected is refused
    result = subprocess.run([sys.executable, 'tools/test.py', cases[0][0],
                             deployed_checkpoints[0], '--work-dir', str(tmp_path / 'w')],
                            cwd=repo_root, capture_output=True, text=True)
    assert result.returncode != 0
    assert 'fc3.bias' in result.stderr and 'set deploy=True' in result.stderr


@pytest.mark.slow
def test_missing_pretrained_checkpoint_is_an_error(repo_root, demo_data, tmp_path):
    result = subprocess.run(
        [sys.executable, 'tools/train.py', seg_config('msmlp'), '--work-dir', str(tmp_path),
         '--cfg-options', 'model.backbone.init_cfg.checkpoint=does/not/exist.pth',
         'model.backbone.init_cfg.missing_ok=False', *SEG_SHORT],
        cwd=repo_root, capture_output=True, text=True)
    assert result.returncode != 0
    assert 'does/not/exist.pth' in result.stderr


@pytest.mark.slow
def test_dense_demo_configs_run_on_their_own(repo_root, demo_data, tmp_path):
    """Without tools/run_demo.py's classification checkpoint: random weights and one notice."""
    result = run_tool(repo_root, 'tools/train.py', det_config('msmlp'), '--work-dir',
                      str(tmp_path), '--cfg-options',
                      'model.backbone.init_cfg.checkpoint=not/trained/yet.pth', *DET_SHORT)
    log = result.stdout + result.stderr
    assert log.count('not/trained/yet.pth does not exist: MSMLP starts from random weights') == 1


def test_resume_continues_from_last_checkpoint(repo_root, demo_data, tmp_path):
    work_dir = str(tmp_path)
    run_tool(repo_root, 'tools/train.py', seg_config('msmlp'), '--work-dir', work_dir,
             '--cfg-options',
             'model.backbone.init_cfg=None', *SEG_SHORT, 'train_cfg.max_iters=2')
    assert last_checkpoint(work_dir).endswith('iter_2.pth')
    # --progress draws its bars on the file descriptor tools/run_demo.py passes, not in the log
    bar_read, bar_write = os.pipe()
    result = subprocess.run(
        [sys.executable, 'tools/train.py', seg_config('msmlp'), '--work-dir', work_dir,
         '--resume', '--progress', '--cfg-options', 'model.backbone.init_cfg=None', *SEG_SHORT],
        cwd=repo_root, capture_output=True, text=True, pass_fds=(bar_write,),
        env=dict(os.environ, VMLP_PROGRESS_FD=str(bar_write)))
    os.close(bar_write)
    with os.fdopen(bar_read) as bars:
        bars = bars.read()
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [4/4]' in log and 'Iter(train) [1/4]' not in log
    assert last_checkpoint(work_dir).endswith('iter_4.pth')
    assert 'train:  50%' in bars and 'train: 100%' in bars and 'loss=' in bars  # from iter 2
    assert '%|' not in log


@pytest.mark.slow
def test_dist_train_two_cpu_processes(repo_root, demo_data, tmp_path):
    env = dict(os.environ, PORT=str(29500 + os.getpid() % 1000), PYTHON=sys.executable)
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', cls_config('msmlp'), '2', '--work-dir', str(tmp_path),
         '--cfg-options', *CLS_SHORT, 'train_dataloader.num_workers=0',
         'val_dataloader.num_workers=0'],
        cwd=repo_root, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'distributed 2 CPU processes over gloo' in log
    checkpoint = load_checkpoint(last_checkpoint(str(tmp_path)))
    classifier = build_config_classifier(
        osp.join(repo_root, cls_config('msmlp')), 10)
    classifier.load_state_dict(checkpoint['state_dict'], strict=True)


# MS-MLP through every task; the other families' dense AMP runs are their end-to-end runs above
AMP_CASES = quick_first([(FAMILY_NAMES[0], task) for task in ('classification', 'segmentation',
                                                              'detection')]
                        + [(model, 'classification') for model in FAMILY_NAMES[1:]])


@pytest.mark.parametrize('model, task', AMP_CASES)
def test_amp_trains_and_tests(repo_root, demo_data, model, task, tmp_path):
    """``tools/train.py --amp`` and ``tools/test.py --amp`` on CPU: bfloat16 autocast through
    vmlp_mm.CPUAmpOptimWrapper, a finite loss, metrics written."""
    short, metric = {
        'classification': (CLS_SHORT, 'accuracy/top1'),
        'segmentation': (SEG_SHORT[3:] + ['train_cfg.max_iters=2', 'train_cfg.val_interval=2'],
                         'mIoU'),
        'detection': (DET_SHORT, 'coco/bbox_mAP'),
    }[task]
    config = demo_config(model, task)
    options = ['default_hooks.logger.interval=1']
    if task != 'classification':
        options.append('model.backbone.init_cfg=None')  # no classification checkpoint
    result = run_tool(repo_root, 'tools/train.py', config, '--amp', '--work-dir', str(tmp_path),
                      '--cfg-options', *short, *options)
    log = result.stdout + result.stderr
    assert 'CPUAmpOptimWrapper' in log
    losses = [float(line.split(' loss: ')[1].split()[0]) for line in log.splitlines()
              if ' loss: ' in line]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    metrics_file = tmp_path / 'metrics.json'
    run_tool(repo_root, 'tools/test.py', config, last_checkpoint(str(tmp_path)), '--amp',
             '--work-dir', str(tmp_path / 'test'), '--out-metrics', str(metrics_file),
             '--cfg-options', 'test_dataloader.dataset.indices=4', *options)
    assert metric in json.loads(metrics_file.read_text())


def test_amp_dtype_float16_on_cpu_is_refused(repo_root, tmp_path):
    result = subprocess.run([sys.executable, 'tools/train.py', cls_config('msmlp'),
                             '--amp', '--amp-dtype', 'float16', '--work-dir', str(tmp_path)],
                            cwd=repo_root, capture_output=True, text=True)
    assert result.returncode != 0 and 'needs a GPU' in result.stderr


def test_a_checkpoint_that_does_not_fit_is_refused_with_its_keys(repo_root, demo_data, tmp_path):
    """mmengine loads load_from/test checkpoints with strict=False and only logs; ours refuse."""
    state = build_config_classifier(osp.join(repo_root, cls_config('msmlp')),
                                    10).state_dict()
    state['backbone.extra.weight'] = state.pop('head.fc.bias')
    path = str(tmp_path / 'other.pth')
    torch.save({'state_dict': state, 'meta': {}}, path)
    result = subprocess.run([sys.executable, 'tools/test.py', cls_config('msmlp'), path,
                             '--work-dir', str(tmp_path)], cwd=repo_root, capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert ('the checkpoint does not fit the model of the config: missing 1: head.fc.bias; '
            'unexpected 1: backbone.extra.weight') in result.stderr
