"""FLOPs and parameters of every variant against the official models' (measured with fvcore on
the official code, 1000-class head, pretraining resolution), and the analysis tools."""
import subprocess
import sys

import pytest
import torch

from vmlp_mm.analysis import flop_analyzer
from vmlp_mm.families import VisionMLPClassifier, get_family
from vmlp_testing import ARCH_FACTS, FAMILY_NAMES, quick_first


def smallest_arch_quick(facts):
    """The quick tier checks each family's first (smallest) arch, make test-all every arch."""
    seen = set()
    params = []
    for fact in facts:
        marks = [pytest.mark.slow] if fact[0] in seen else []
        seen.add(fact[0])
        params.append(pytest.param(*fact, marks=marks, id=f'{fact[0]}-{fact[1]}'))
    return params


@pytest.mark.parametrize('family,arch,size,params,gflops', smallest_arch_quick(ARCH_FACTS))
def test_params_and_flops_equal_official(family, arch, size, params, gflops):
    # the official classifier: backbone, pooling where the official model pools, head
    model = VisionMLPClassifier.of_family(get_family(family), arch).eval()
    assert sum(p.numel() for p in model.parameters()) == params
    analyzer = flop_analyzer(model, (torch.randn(1, 3, size, size), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    assert analyzer.total() / 1e9 == pytest.approx(gflops, rel=0.01)
    assert not [op for op in analyzer.unsupported_ops() if op.startswith('vmlp_mm::')]


def test_get_flops_tool_on_a_detector(repo_root):
    result = subprocess.run(
        [sys.executable, 'tools/analysis/get_flops.py',
         'configs/demo/mask-rcnn_msmlp-nano_fpn_demo-shapes-coco.py', '--shape', '128', '160'],
        cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'input 1x3x128x160:' in result.stdout and 'GFLOPs' in result.stdout
    assert 'vmlp_mm::' not in result.stdout.split('not counted')[1]


def benchmark_rows(repo_root, config, *args):
    result = subprocess.run(
        [sys.executable, 'tools/analysis/benchmark.py', config, '--batch', '2', '--shape', '64',
         '64', '--warmup', '1', '--repeats', '1', *args], cwd=repo_root, capture_output=True,
        text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    # | config | variant | dtype | channels_last | compile | ops | ms / batch | images / s |
    # peak MiB |
    # (the config column left out)
    return [line.split('|')[2:-1] for line in result.stdout.splitlines()
            if line.startswith('| ') and line.split('|')[3].strip() in ('fp32', 'bf16')]


def test_benchmark_tool_prints_a_row_per_setting(repo_root):
    rows = benchmark_rows(repo_root, 'configs/demo/repmlp-nano_demo-digits.py',
                          '--channels-last', 'off', 'on', '--variant',
                          'model.backbone.deploy=False', '--variant', 'model.backbone.deploy=True')
    assert [(r[0].strip(), r[2].strip()) for r in rows] == [
        ('model.backbone.deploy=False', 'off'), ('model.backbone.deploy=False', 'on'),
        ('model.backbone.deploy=True', 'off'), ('model.backbone.deploy=True', 'on')]
    assert all(float(r[5]) > 0 for r in rows)


def test_benchmark_tool_compares_ops_with_their_references(repo_root):
    rows = benchmark_rows(repo_root, get_family('posmlp').demo_config('classification'),
                          '--ops', 'kernels', 'references', '--train')
    assert [r[4].strip() for r in rows] == ['kernels', 'references']
    assert all(float(r[5]) > 0 for r in rows)


@pytest.mark.slow
def test_benchmark_configs_side_by_side_per_gflop(repo_root):
    """Two configs measured in turn (--rounds), with FLOPs per image and time per GFLOP."""
    result = subprocess.run(
        [sys.executable, 'tools/analysis/benchmark.py', get_family('msmlp').demo_config(
            'classification'), get_family('stripmlp').demo_config('classification'), '--batch',
         '2', '--shape', '64', '64', '--warmup', '1', '--repeats', '1', '--rounds', '2',
         '--train', '--per-gflop'], cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split('|')[1:-1] for line in result.stdout.splitlines()
            if line.startswith('| ') and 'demo' in line]
    assert [r[0].strip().split('_')[0] for r in rows] == ['msmlp-nano', 'stripmlp-nano']
    for row in rows:
        ms, gflops, ms_per_gflop = float(row[6]), float(row[9]), float(row[10])
        assert gflops > 0 and ms_per_gflop == pytest.approx(ms / (2 * gflops), rel=0.02)


@pytest.mark.parametrize('model', quick_first(FAMILY_NAMES))
def test_benchmark_bf16_training_rows_for_every_backbone(repo_root, model):
    rows = benchmark_rows(repo_root, get_family(model).demo_config('classification'), '--train',
                          '--dtype', 'fp32', 'bf16')
    assert [r[1].strip() for r in rows] == ['fp32', 'bf16']
    assert all(float(r[5]) > 0 for r in rows)


def test_gpu_check_dry_run_lists_its_steps(repo_root):
    import subprocess
    result = subprocess.run(['bash', 'tools/gpu_check.sh', '--dry-run'], cwd=repo_root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ('build vmlp_mm._ext (CUDA, sm_90)', 'op tests on CUDA', 'AMP training check',
                 'op timings', 'training steps'):
        assert step in result.stdout


def test_amp_train_check_runs_on_cpu(repo_root):
    """The GPU check's training step, on CPU in bfloat16: finite, falling losses."""
    import subprocess
    import sys
    result = subprocess.run([sys.executable, 'tools/analysis/amp_train_check.py', '--device',
                             'cpu', '--dtype', 'bfloat16', '--iters', '12', '--models', 'msmlp',
                             'activemlp', '--kinds', 'classifier'], cwd=repo_root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.count('| yes |') == 2


@pytest.mark.slow
def test_benchmark_ops_compares_with_the_official_formulations(repo_root):
    result = subprocess.run(
        [sys.executable, 'tools/analysis/benchmark_ops.py', '--device', 'cpu', '--batch', '4',
         '--repeats', '1', '--only', 'shift_mix', 'posmlp_stripmlp', 'depthwise_conv'],
        cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith('| ')
            and line.endswith('x |') and not line.startswith('| stage') and '---' not in line]
    # 4 stages x 2 passes of shift_mix, 4 PosMLP stages, 8 strip FCs, 2 backbones, 4 stages x 4
    # depthwise kernels
    assert len(rows) == 38, result.stdout
