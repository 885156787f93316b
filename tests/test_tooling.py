"""The development commands themselves: the quick tier's summary and the CUDA build check."""
import os
import subprocess
import sys


def test_quick_tier_counts_the_slow_tests_it_leaves_out(repo_root):
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', 'tests/test_e2e/test_crash_safety.py', '--quick',
         '--collect-only', '-q', '-p', 'no:cacheprovider'],
        cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 5, result.stdout[-2000:]  # pytest: no tests left to run
    assert 'quick tier: 2 slow tests left to `make test-all`' in result.stdout
    assert '(2 deselected)' in result.stdout


def test_cuda_build_check_without_nvcc_says_so_and_passes(repo_root, tmp_path):
    bare = tmp_path / 'bin'
    bare.mkdir()
    for tool in ('bash', 'realpath', 'dirname', 'printf'):  # what the script needs before nvcc
        path = subprocess.run(['bash', '-c', f'command -v {tool}'], capture_output=True,
                              text=True).stdout.strip()
        if path.startswith('/'):
            os.symlink(path, bare / tool)
    result = subprocess.run(['bash', 'tools/check_cuda_build.sh', str(tmp_path / 'build')],
                            cwd=repo_root, capture_output=True, text=True,
                            env=dict(os.environ, PATH=str(bare)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'no nvcc on PATH: the CUDA kernels were not compiled' in result.stdout
