"""The command line shared by ``tools/model_converters/<model>_to_vmlp.py SRC DST``."""
import argparse
import glob
import os
import os.path as osp

import torch

from ..version import __version__
from . import CONVERTERS
from .base import check_state_dict, load_official_state_dict

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def classification_config(model: str, arch: str) -> str:
    """``configs/classification/<model>/<model>-<arch>_*_in1k*.py`` of the repository."""
    pattern = osp.join(ROOT, 'configs', 'classification', model, f'{model}-{arch}_*_in1k*.py')
    matches = sorted(glob.glob(pattern))
    if not matches:
        raise FileNotFoundError(f'no classification config matches {pattern}')
    return matches[0]


def build_classifier(config: str, num_classes: int) -> torch.nn.Module:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope('mmpretrain')
    cfg.model.head.num_classes = num_classes
    return MODELS.build(cfg.model)


def convert_file(model: str, src: str, dst: str, trust: bool = False, verify: bool = True) -> str:
    """Convert ``src`` to an mmpretrain checkpoint at ``dst``; returns the arch name."""
    official = load_official_state_dict(src, trust=trust)
    state_dict, arch = CONVERTERS[model].convert(official)
    config = classification_config(model, arch)
    if verify:
        num_classes = state_dict['head.fc.weight'].shape[0]
        check_state_dict(state_dict, build_classifier(config, num_classes))
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    meta = dict(source=osp.abspath(src), converter=f'{model}_to_vmlp', arch=arch,
                config=osp.relpath(config, ROOT), vmlp_mm_version=__version__)
    torch.save({'state_dict': state_dict, 'meta': meta}, dst)
    return arch


def main(model: str) -> None:
    parser = argparse.ArgumentParser(
        description=f'Convert an official {model} checkpoint to a vmlp_mm (mmpretrain) checkpoint')
    parser.add_argument('src', help='official checkpoint (raw state dict, or under model/state_dict)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--trust', action='store_true',
                        help='allow unpickling non-tensor objects in SRC (only trusted files)')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip building the classifier to check keys and shapes')
    args = parser.parse_args()
    if osp.abspath(args.src) == osp.abspath(args.dst):
        parser.error('DST must differ from SRC (the source is never overwritten)')
    arch = convert_file(model, args.src, args.dst, trust=args.trust, verify=not args.no_verify)
    print(f'{model} {arch}: {args.src} -> {args.dst} '
          f'(loads into {osp.relpath(classification_config(model, arch), ROOT)})')
