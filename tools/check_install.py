"""Check that every part of the vmlp_mm stack imports, and say how to fix the ones that don't.

Run by ``tools/install.sh`` at its end; ``--quiet`` prints only failures.
"""
import argparse
import importlib
import importlib.util
import os.path as osp
import sys

# (module, what to do when it does not import)
CHECKS = [
    ('torchvision.ops',
     'torchvision must be the PyPI build next to the PyPI torch 2.13.0: '
     '`pip install --isolated torch==2.13.0 torchvision==0.28.0`'),
    ('mmcv.ops',
     'mmcv 2.1.0 must be installed with its compiled ops: set MMCV_WHEELHOUSE to a folder '
     'with a wheel, or `MMCV_WITH_OPS=1 pip install --no-build-isolation mmcv==2.1.0` '
     '(after `pip install "setuptools<82" wheel ninja psutil`)'),
    ('mmpretrain.models', '`pip install -r requirements/runtime.txt`'),
    ('mmseg.models', '`pip install -r requirements/runtime.txt` (mmseg also needs ftfy, regex)'),
    ('mmdet.models', '`pip install -r requirements/runtime.txt` (mmdet also needs pycocotools)'),
    ('vmlp_mm._ext',
     'the C++ extension is not built: `pip install --no-build-isolation --no-deps -e .` '
     'in the repository (FORCE_CUDA=1 for the CUDA kernels); its compiler output says why'),
]


def keep_mmpretrain_importable() -> bool:
    """What ``import vmlp_mm`` does first (vmlp_mm/utils/compat.py, loaded by path: the checks
    below must not depend on vmlp_mm importing), so mmpretrain is checked as the tools use it."""
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'vmlp_mm', 'utils',
                    'compat.py')
    spec = importlib.util.spec_from_file_location('vmlp_mm_compat', path)
    compat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compat)
    return compat.keep_mmpretrain_importable()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--quiet', action='store_true')
    args = parser.parse_args()
    if keep_mmpretrain_importable() and not args.quiet:
        print('[check] transformers >= 5 is installed: mmpretrain\'s multimodal models (BLIP, '
              '...) are left out, as vmlp_mm does on import')
    failed = 0
    for module, fix in CHECKS:
        try:
            importlib.import_module(module)
        except Exception as exc:  # any import failure is reported the same way
            failed += 1
            print(f'[check] {module}: FAILED ({type(exc).__name__}: {exc})\n'
                  f'        fix: {fix}')
        else:
            if not args.quiet:
                print(f'[check] {module}: ok')
    if failed and not args.quiet:
        print(f'[check] {failed} of {len(CHECKS)} imports failed')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
