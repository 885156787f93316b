"""FLOPs and parameters of a config's model, for any task (classifier, UperNet, Mask R-CNN).

    python tools/analysis/get_flops.py CONFIG [--shape H W] [--max-depth 3]

mmengine's FlopAnalyzer (fvcore conventions: a multiply-add is one FLOP; element-wise ops,
activations and softmax are not counted) with handles for the vmlp_mm ops
(``vmlp_mm.analysis``), on one ``1 x 3 x H x W`` input: the classifier's logits, the segmentor's
logits, or the detector's full two-stage forward. Every operator the analysis skips is listed with
its count, so nothing is dropped silently. Default shapes: 224x224 (classification; the
pretraining size for RepMLPNet's 256 archs), 512x512 (segmentation), 800x1216 (detection).
"""
import argparse

import torch
from mmengine.analysis.print_helper import complexity_stats_table
from mmengine.config import Config, DictAction

from vmlp_mm.analysis import flop_analyzer
from vmlp_mm.utils.cli import run_main
from vmlp_mm.utils.config_model import TensorForward, build_config_model, default_shape
from vmlp_mm.utils.progress import step


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: per task, see above)')
    parser.add_argument('--max-depth', type=int, default=3, help='depth of the module table')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    shape = tuple(args.shape or default_shape(cfg))
    model = TensorForward(build_config_model(cfg), shape)
    analyzer = flop_analyzer(model, (torch.randn(1, 3, *shape), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with step(f'counting FLOPs at 1x3x{shape[0]}x{shape[1]}'):
        flops = analyzer.total()
    params = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in model.model.backbone.parameters())
    print(complexity_stats_table(analyzer, max_depth=args.max_depth + 1, show_param_shapes=False))
    skipped = analyzer.unsupported_ops()
    print('not counted (fvcore conventions): ' +
          (', '.join(f'{op} x{n}' for op, n in sorted(skipped.items())) or 'nothing'))
    ours = [op for op in skipped if op.startswith('vmlp_mm::')]
    if ours:
        raise SystemExit(f'vmlp_mm ops without a FLOP handle: {ours}')
    print(f'\n{args.config}\ninput 1x3x{shape[0]}x{shape[1]}: {flops / 1e9:.3f} GFLOPs, '
          f'{params / 1e6:.3f} M parameters ({backbone / 1e6:.3f} M in the backbone)')


if __name__ == '__main__':
    run_main(main)
