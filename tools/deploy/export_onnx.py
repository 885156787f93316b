"""Export a config's backbone (or whole classifier/segmentor) to ONNX and check it with
onnxruntime.

    python tools/deploy/export_onnx.py CONFIG OUT.onnx [--checkpoint CKPT] [--part backbone|model]
        [--shape H W] [--batch 1] [--opset 18] [--check]

The vmlp_mm ops (shift_mix, offset_sample) are exported through their pure-PyTorch references,
which decompose into standard ONNX operators: any ONNX runtime runs the file, without a custom
operator library (the references compute the same function as the kernels). The export uses
torch.onnx's dynamo exporter for one input shape: the backbones pad to their windows with
Python-side sizes, so export once per deployment size. ``--check`` runs the file with
onnxruntime on a random input and fails when it differs from PyTorch by more than 1e-4
(relative to the output's scale).
"""
import argparse
import os.path as osp

import torch
from mmengine.config import Config, DictAction

from vmlp_mm.deploy import BackboneOutputs, check, export
from vmlp_mm.utils.checkpoint import check_state_dict, load_checkpoint, weights_of
from vmlp_mm.utils.cli import run_main
from vmlp_mm.utils.config_model import TensorForward, build_config_model
from vmlp_mm.utils.outputs import add_force_argument, check_output
from vmlp_mm.utils.progress import step


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('out', help='the .onnx file')
    parser.add_argument('--checkpoint', help='weights (strict); random init without')
    parser.add_argument('--part', choices=['backbone', 'model'], default='backbone',
                        help='model: classifiers and segmentors (detectors: export the backbone)')
    parser.add_argument('--shape', type=int, nargs=2, default=(224, 224), metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--check', action='store_true', help='compare with onnxruntime')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    add_force_argument(parser)
    return parser.parse_args()


def build(cfg: Config, part: str, shape, checkpoint=None) -> torch.nn.Module:
    if part == 'model' and cfg.get('default_scope') == 'mmdet':
        raise SystemExit('detectors have no single-tensor forward to export; use --part backbone')
    model = build_config_model(cfg)
    if checkpoint:
        weights = weights_of(load_checkpoint(checkpoint))
        check_state_dict(weights, model)
        model.load_state_dict(weights)
    return BackboneOutputs(model.backbone) if part == 'backbone' else TensorForward(model, shape)


def main():
    args = parse_args()
    check_output(args.out, [args.config, args.checkpoint], args.force, what='OUT')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    module = build(cfg, args.part, tuple(args.shape), args.checkpoint)
    x = torch.randn(args.batch, 3, *args.shape)
    with step(f'exporting to {args.out} (opset {args.opset})'):
        export(module, x, args.out, args.opset)
    print(f'{args.config} ({args.part}) -> {args.out}, input {tuple(x.shape)}, opset {args.opset}, '
          f'{osp.getsize(args.out) / 1e6:.1f} MB')
    if args.check:
        error = check(module, x, args.out)
        print(f'onnxruntime vs PyTorch: max |diff| / max |output| = {error:.2e}')
        if error > 1e-4:
            raise SystemExit('the ONNX model differs from PyTorch')


if __name__ == '__main__':
    run_main(main)
