"""Train every backbone's nano classifier and UperNet briefly under autocast and check that the
losses stay finite and fall.

    python tools/analysis/amp_train_check.py [--device cuda] [--dtype float16 bfloat16]
        [--iters 40] [--models msmlp activemlp ...] [--out table.md]

The models are the demo configs' (``configs/demo``), built without pretrained weights, on a
synthetic task they can learn in a few dozen steps: the image's class (classification) and each
pixel's class (segmentation) is the colour channel that is brightest there. AdamW, lr 1e-3;
float16 with dynamic loss scaling (``torch.amp.GradScaler``), bfloat16 without. A row passes
when every loss is finite and the mean of the last quarter is below the mean of the first.
Used by ``tools/gpu_check.sh`` on a GPU; runs on CPU too (bfloat16).
"""
import argparse
import os.path as osp
import sys
import time

import torch
import torch.nn.functional as F
from mmengine.config import Config

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from vmlp_mm.families import FAMILIES, get_family  # noqa: E402
from vmlp_mm.utils.cli import run_main  # noqa: E402
from vmlp_mm.utils.config_model import build_config_model  # noqa: E402

KINDS = {  # the demo config's task and its input size
    'classifier': ('classification', 64),
    'upernet': ('segmentation', 128),
}


def synthetic_batch(batch: int, size: int, classes: int, device: str):
    """Images whose brightest channel (per image and per pixel) is the label."""
    base = torch.rand(batch, 3, size // 16, size // 16, device=device)
    images = F.interpolate(base, size=(size, size), mode='nearest')
    images = images + 0.05 * torch.randn_like(images)
    pixel_labels = images.argmax(1) % classes
    image_labels = images.mean((2, 3)).argmax(1) % classes
    return (images - 0.5) / 0.25, image_labels, pixel_labels


def logits(model, kind: str, x: torch.Tensor) -> torch.Tensor:
    feats = model.extract_feat(x)
    return model.head(feats) if kind == 'classifier' else model.decode_head(feats)


def train(model_name: str, kind: str, dtype: torch.dtype, iters: int, device: str):
    task, size = KINDS[kind]
    cfg = Config.fromfile(get_family(model_name).demo_config(task))
    model = build_config_model(cfg).to(device).train()
    classes = 10 if kind == 'classifier' else 4
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device, enabled=dtype == torch.float16)
    losses = []
    start = time.perf_counter()
    for step in range(iters):
        x, image_labels, pixel_labels = synthetic_batch(8, size, classes, device)
        with torch.autocast(device, dtype=dtype):
            out = logits(model, kind, x)
        if kind == 'classifier':
            loss = F.cross_entropy(out.float(), image_labels)
        else:
            target = F.interpolate(pixel_labels[:, None].float(), size=out.shape[2:],
                                   mode='nearest')[:, 0].long()
            loss = F.cross_entropy(out.float(), target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(float(loss))
    if device == 'cuda':
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / iters
    quarter = max(1, iters // 4)
    first, last = sum(losses[:quarter]) / quarter, sum(losses[-quarter:]) / quarter
    finite = all(torch.isfinite(torch.tensor(losses)))
    return first, last, finite and last < first, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--dtype', nargs='+', default=['float16', 'bfloat16'],
                        choices=['float16', 'bfloat16'])
    parser.add_argument('--iters', type=int, default=40)
    parser.add_argument('--models', nargs='+', default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument('--kinds', nargs='+', default=list(KINDS), choices=list(KINDS))
    parser.add_argument('--out', help='also write the table to this file')
    args = parser.parse_args()
    if args.device == 'cpu' and 'float16' in args.dtype:
        parser.error('on CPU use --dtype bfloat16 (float16 needs loss scaling on a GPU)')
    rows = ['| model | net | dtype | first-quarter loss | last-quarter loss | ms / iter | ok |',
            '|---|---|---|---|---|---|---|']
    failed = []
    print('\n'.join(rows), flush=True)
    for model_name in args.models:
        for kind in args.kinds:
            for name in args.dtype:
                first, last, ok, seconds = train(model_name, kind, getattr(torch, name),
                                                 args.iters, args.device)
                rows.append(f'| {model_name} | {kind} | {name} | {first:.3f} | {last:.3f} | '
                            f'{seconds * 1e3:.0f} | {"yes" if ok else "NO"} |')
                print(rows[-1], flush=True)
                if not ok:
                    failed.append(f'{model_name} {kind} {name}')
    if args.out:
        with open(args.out, 'w') as f:
            f.write('\n'.join(rows) + '\n')
    if failed:
        sys.exit(f'losses not finite or not falling: {", ".join(failed)}')


if __name__ == '__main__':
    run_main(main)
