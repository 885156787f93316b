"""Re-parameterise a trained checkpoint into its deploy form (structural re-parameterisation).

    python tools/model_converters/reparameterize.py CONFIG CKPT OUT [--cfg-options ...]

CONFIG is the training-time config of CKPT, of any task (a classifier, UperNet, Mask R-CNN ...).
The model is built from it, CKPT loads strictly, every module with ``switch_to_deploy()`` (e.g.
RepMLPNet's partition FCs absorbing their conv branches and BNs) is converted, the backbone's
outputs before and after are compared on a random input, and OUT holds the deploy weights.
They load strictly into the same config with ``model.backbone.deploy=True``:

    python tools/test.py CONFIG OUT --cfg-options model.backbone.deploy=True
"""
import argparse
import os.path as osp

import torch
from mmengine.config import Config, DictAction

from vmlp_mm.utils.checkpoint import check_state_dict, load_checkpoint, save_atomically, weights_of
from vmlp_mm.utils.cli import run_main
from vmlp_mm.utils.config_model import build_config_model
from vmlp_mm.utils.outputs import add_force_argument, check_output


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='training-time config of the checkpoint')
    parser.add_argument('checkpoint', help='trained checkpoint (tools/train.py or a converter)')
    parser.add_argument('out', help='where the deploy checkpoint goes')
    add_force_argument(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, as for tools/train.py')
    return parser.parse_args()


@torch.no_grad()
def reparameterize(model: torch.nn.Module) -> int:
    """Call every ``switch_to_deploy()``; returns how many modules had one."""
    convertible = [m for m in model.modules() if hasattr(m, 'switch_to_deploy')]
    for module in convertible:
        module.switch_to_deploy()
    return len(convertible)


def main():
    args = parse_args()
    check_output(args.out, [args.checkpoint, args.config], args.force, what='OUT')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.model.backbone.get('deploy'):
        raise SystemExit(f'{args.config} builds a deploy-form backbone already (deploy=True); '
                         'pass the training-time config')

    model = build_config_model(cfg)
    checkpoint = load_checkpoint(args.checkpoint)
    check_state_dict(weights_of(checkpoint), model)
    model.load_state_dict(weights_of(checkpoint))
    # several partitions and padding: 1.5x the pretraining size
    size = getattr(model.backbone, 'pretraining_size', 224) * 3 // 2
    x = torch.randn(1, 3, size, size + 32)
    with torch.no_grad():
        before = model.backbone(x)
    if not reparameterize(model):
        raise SystemExit(f'nothing to re-parameterise: no module of {args.config} has '
                         'switch_to_deploy()')
    with torch.no_grad():
        after = model.backbone(x)
    diff = max((a - b).abs().max().item() for a, b in zip(before, after))
    scale = max(a.abs().max().item() for a in before)

    state_dict = model.state_dict()
    check_state_dict(state_dict, build_config_model(cfg, deploy=True))
    meta = dict(checkpoint.get('meta', {}), reparameterized_from=osp.abspath(args.checkpoint),
                backbone_overrides={'deploy': True})
    save_atomically({'state_dict': state_dict, 'meta': meta}, args.out)
    print(f'backbone outputs on a random 1x3x{size}x{size + 32} input: max |before - after| = '
          f'{diff:.2e} (max |output| {scale:.2e})')
    print(f'{args.checkpoint} -> {args.out}; evaluate with:\n  python tools/test.py '
          f'{args.config} {args.out} --cfg-options model.backbone.deploy=True')


if __name__ == '__main__':
    run_main(main)
