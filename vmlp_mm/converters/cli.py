"""The command line shared by ``tools/model_converters/<model>_to_vmlp.py SRC DST``."""
import argparse
import os
import os.path as osp

from ..families import CONFIG_ROOT, VisionMLPClassifier, get_family
from ..utils.checkpoint import save_atomically
from ..utils.cli import run_main
from ..utils.outputs import add_force_argument, check_output
from ..utils.progress import step
from ..version import __version__
from .base import check_state_dict, load_official_state_dict


def convert_file(model: str, src: str, dst: str, trust: bool = False,
                 verify: bool = True) -> dict:
    """Convert ``src`` to an mmpretrain checkpoint at ``dst``; returns its ``meta``.

    The check builds the official classifier from the backbone class, not from a config file,
    so it works wherever vmlp_mm is installed; ``meta['config']`` names the repository's
    classification config of the arch when the configs are there.
    """
    family = get_family(model)
    with step(f'reading {src}'):
        official = load_official_state_dict(src, trust=trust)
    with step(f'converting {len(official)} tensors'):
        state_dict, arch, overrides = family.convert(official)
    if verify:
        num_classes = state_dict['head.fc.weight'].shape[0]
        with step(f'checking it against {family.backbone.__name__}({arch!r})'):
            check_state_dict(state_dict,
                             VisionMLPClassifier.of_family(family, arch, num_classes, **overrides),
                             'converted checkpoint')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    config = family.classification_config(arch)
    meta = dict(source=osp.abspath(src), converter=f'{model}_to_vmlp', arch=arch,
                config=osp.relpath(config, osp.dirname(CONFIG_ROOT)) if config else None,
                backbone_overrides=overrides, vmlp_mm_version=__version__)
    with step(f'writing {dst}'):
        save_atomically({'state_dict': state_dict, 'meta': meta}, dst)
    return meta


def main(model: str) -> None:
    """The converter script of ``model`` (an expected failure ends in one line)."""
    run_main(lambda: convert_command(model))


def convert_command(model: str) -> None:
    parser = argparse.ArgumentParser(
        description=f'Convert an official {model} checkpoint to a vmlp_mm (mmpretrain) checkpoint')
    parser.add_argument('src',
                        help='official checkpoint (raw state dict, or under model/state_dict)')
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
    target = (meta['config']
              or f'a {get_family(model).backbone.__name__} arch={meta["arch"]!r} config')
    print(f'{model} {meta["arch"]}: {args.src} -> {args.dst} (loads into {target}'
          + (f' with --cfg-options{options})' if options else ')'))
