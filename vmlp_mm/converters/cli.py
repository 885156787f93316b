"""The command line shared by ``tools/model_converters/<model>_to_vmlp.py SRC DST``."""
import argparse
import glob
import os
import os.path as osp
from typing import Optional

import torch

from ..version import __version__
from . import CONVERTERS
from ..utils.checkpoint import save_atomically
from ..utils.outputs import add_force_argument, check_output
from ..utils.progress import step
from .base import check_state_dict, load_official_state_dict

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def classification_config(model: str, arch: str) -> str:
    """``configs/classification/<model>/<model>-<arch>_*_in1k*.py`` of the repository."""
    pattern = osp.join(ROOT, 'configs', 'classification', model, f'{model}-{arch}_*_in1k*.py')
    matches = sorted(glob.glob(pattern))
    if not matches:
        raise FileNotFoundError(f'no classification config matches {pattern}')
    return matches[0]


def build_classifier(config: str, num_classes: int,
                     backbone_overrides: Optional[dict] = None) -> torch.nn.Module:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope('mmpretrain')
    cfg.model.head.num_classes = num_classes
    cfg.model.backbone.update(backbone_overrides or {})
    return MODELS.build(cfg.model)


def backbone_overrides(model: str, official: dict) -> dict:
    """Backbone settings an official checkpoint needs beyond the classification config's
    (e.g. ``deploy=True`` for re-parameterised RepMLPNet weights)."""
    converter = CONVERTERS[model]
    return converter.backbone_overrides(official) if hasattr(converter,
                                                             'backbone_overrides') else {}


def convert_file(model: str, src: str, dst: str, trust: bool = False,
                 verify: bool = True) -> dict:
    """Convert ``src`` to an mmpretrain checkpoint at ``dst``; returns its ``meta``."""
    with step(f'reading {src}'):
        official = load_official_state_dict(src, trust=trust)
    with step(f'converting {len(official)} tensors'):
        state_dict, arch = CONVERTERS[model].convert(official)
    overrides = backbone_overrides(model, official)
    config = classification_config(model, arch)
    if verify:
        num_classes = state_dict['head.fc.weight'].shape[0]
        with step(f'checking it against {osp.relpath(config, ROOT)}'):
            check_state_dict(state_dict, build_classifier(config, num_classes, overrides),
                             'converted checkpoint')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    meta = dict(source=osp.abspath(src), converter=f'{model}_to_vmlp', arch=arch,
                config=osp.relpath(config, ROOT), backbone_overrides=overrides,
                vmlp_mm_version=__version__)
    with step(f'writing {dst}'):
        save_atomically({'state_dict': state_dict, 'meta': meta}, dst)
    return meta


def main(model: str) -> None:
    parser = argparse.ArgumentParser(
        description=f'Convert an official {model} checkpoint to a vmlp_mm (mmpretrain) checkpoint')
    parser.add_argument('src', help='official checkpoint (raw state dict, or under model/state_dict)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--trust', action='store_true',
                        help='allow unpickling non-tensor objects in SRC (only trusted files)')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip building the classifier to check keys and shapes')
    add_force_argument(parser)
    args = parser.parse_args()
    check_output(args.dst, [args.src], args.force, what='DST')
    meta = convert_file(model, args.src, args.dst, trust=args.trust, verify=not args.no_verify)
    options = ''.join(f' model.backbone.{k}={v}' for k, v in meta['backbone_overrides'].items())
    print(f'{model} {meta["arch"]}: {args.src} -> {args.dst} (loads into {meta["config"]}'
          + (f' with --cfg-options{options})' if options else ')'))
