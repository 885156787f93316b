"""Predict on images with a trained config + checkpoint of any task, and write pictures.

    python tools/inference.py CONFIG CHECKPOINT IMAGE_OR_FOLDER --out-dir DIR [--device cpu]

Predictions come from the upstream inferencers (mmpretrain ``ImageClassificationInferencer``,
mmseg ``MMSegInferencer``, mmdet ``DetInferencer``); the pictures are drawn by
:mod:`vmlp_mm.visualization`, readable at any image size: the predicted class and score
(classification), class colours blended over the image with a legend (segmentation), instance
masks, boxes and labels (detection). ``DIR/<image name>.png`` per image, and ``predictions.json``.
"""
import argparse
import json
import os
import os.path as osp
import sys

import vmlp_mm  # noqa: F401  (before the upstream packages: quiets their import warnings)

# isort: split
import mmcv

from vmlp_mm.engine.data_checks import image_problem
from vmlp_mm.utils.checkpoint import load_checkpoint, require_checkpoint_file, weights_of
from vmlp_mm.utils.cli import run_main
from vmlp_mm.utils.launch import read_config
from vmlp_mm.utils.outputs import (
    add_force_argument,
    check_output_folder,
    write_text_atomically,
    written_atomically,
)
from vmlp_mm.visualization import draw_classification, draw_detection, draw_segmentation

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('inputs', help='an image, or a folder of images')
    parser.add_argument('--out-dir', required=True, help='where the pictures go')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: lowest score drawn')
    add_force_argument(parser)
    return parser.parse_args()


def list_images(inputs: str):
    if osp.isdir(inputs):
        images = sorted(osp.join(inputs, f) for f in os.listdir(inputs)
                        if f.lower().endswith(IMAGE_SUFFIXES))
        if not images:
            raise SystemExit(f'{inputs} holds no images ({", ".join(IMAGE_SUFFIXES)})')
        return images
    if not osp.isfile(inputs):
        raise SystemExit(f'no image or folder at {inputs}')
    return [inputs]


def check_device(device: str) -> None:
    import torch
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit(f'--device {device}: this machine has no usable GPU (torch '
                         f'{torch.__version__}); run with --device cpu')


def readable_images(images):
    """The images that decode, and one line per image that does not (a folder's bad files are
    skipped, not fatal: the good ones are still predicted)."""
    good, skipped = [], {}
    for image in images:
        problem = image_problem(image)
        if problem:
            skipped[osp.basename(image)] = problem
            print(f'{image}: skipped, {problem}', file=sys.stderr)
        else:
            good.append(image)
    return good, skipped


def strict_weights(cfg, checkpoint: str):
    """The checkpoint's weights as the config's model takes them, read and checked before any
    inferencer is built: vmlp_mm's reader (clear errors, non-finite weights refused), every key
    and shape compared (the inferencers load non-strictly: a checkpoint of another task or
    family would predict from random weights), an authors' classifier file converted. Returns
    the state dict and whether it is the file's own (the inferencer may then read its meta)."""
    from mmengine.registry import MODELS, init_default_scope

    from vmlp_mm.engine.hooks import state_dict_for
    init_default_scope(cfg.default_scope)
    stored = weights_of(load_checkpoint(checkpoint))
    state_dict = state_dict_for(MODELS.build(cfg.model), stored)
    return state_dict, state_dict is stored


def classify(cfg, checkpoint, state_dict, images, device, **_):
    from mmpretrain.apis import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(cfg, pretrained=checkpoint, device=device)
    inferencer.model.load_state_dict(state_dict)
    classes = inferencer.classes or [str(i) for i in range(cfg.model.head.num_classes)]
    for image, result in zip(images, inferencer(images, return_datasamples=True)):
        scores = result.pred_score.cpu()
        top = scores.topk(min(3, len(scores)))
        names = [(classes[int(i)], float(s)) for s, i in zip(top.values, top.indices)]
        picture = draw_classification(mmcv.imread(image, channel_order='rgb'), *names[0],
                                      top=names[1:])
        yield image, picture, dict(label=names[0][0], score=names[0][1])


def segment(cfg, checkpoint, state_dict, images, device, **_):
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(cfg, weights=checkpoint, device=device)
    inferencer.model.load_state_dict(state_dict)
    meta = inferencer.model.dataset_meta
    results = inferencer(images, return_datasamples=True)
    for image, result in zip(images, results if isinstance(results, list) else [results]):
        labels = result.pred_sem_seg.data[0].cpu().numpy()
        picture = draw_segmentation(mmcv.imread(image, channel_order='rgb'), labels,
                                    meta['classes'], meta.get('palette'))
        present = [meta['classes'][int(c)] for c in sorted(set(labels.flat)) if c < len(
            meta['classes'])]
        yield image, picture, dict(classes_present=present)


def detect(cfg, checkpoint, state_dict, images, device, score_thr=0.3):
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(cfg, weights=checkpoint, device=device, show_progress=False)
    inferencer.model.load_state_dict(state_dict)
    meta = inferencer.model.dataset_meta
    results = inferencer(images, return_datasamples=True, no_save_pred=True)['predictions']
    for image, result in zip(images, results):
        instances = result.pred_instances
        keep = instances.scores >= score_thr
        instances = instances[keep]
        masks = instances.masks.cpu().numpy().astype(bool) if 'masks' in instances else None
        picture = draw_detection(mmcv.imread(image, channel_order='rgb'),
                                 instances.bboxes.cpu().numpy(), instances.labels.cpu().numpy(),
                                 instances.scores.cpu().numpy(), meta['classes'], masks,
                                 meta.get('palette'))
        yield image, picture, dict(instances=[
            dict(label=meta['classes'][int(lab)], score=round(float(s), 4),
                 box=[round(float(v), 1) for v in box])
            for lab, s, box in zip(instances.labels, instances.scores, instances.bboxes)])


TASKS = {'mmpretrain': classify, 'mmseg': segment, 'mmdet': detect}


def main():
    args = parse_args()
    check_device(args.device)
    require_checkpoint_file(args.checkpoint)
    # importing the config runs its custom_imports, vmlp_mm.mmengine_loader among them: the
    # inferencers then read the checkpoint through vmlp_mm's loader
    cfg = read_config(args.config)
    task = TASKS.get(cfg.get('default_scope'))
    if task is None:
        raise SystemExit(f'{args.config}: default_scope {cfg.get("default_scope")!r} is not one '
                         f'of {sorted(TASKS)}')
    images = list_images(args.inputs)
    check_output_folder(args.out_dir, [args.inputs, args.checkpoint], args.force, what='--out-dir')
    state_dict, own = strict_weights(cfg, args.checkpoint)
    images, skipped = readable_images(images)
    if not images:
        raise SystemExit(f'{args.inputs}: no image could be read ({len(skipped)} skipped)')
    outputs = [osp.join(args.out_dir, osp.splitext(osp.basename(i))[0] + '.png') for i in images]
    os.makedirs(args.out_dir, exist_ok=True)
    predictions = {}
    for (image, picture, prediction), out in zip(
            task(cfg, args.checkpoint if own else None, state_dict, images, args.device,
                 score_thr=args.score_thr), outputs):
        with written_atomically(out) as partial:
            mmcv.imwrite(picture[..., ::-1], partial)  # RGB -> BGR file
        predictions[osp.basename(image)] = prediction
        summary = (f'{len(prediction["instances"])} instances' if task is detect
                   else prediction)
        print(f'{image} -> {out}: {summary}')
    predictions.update({name: dict(skipped=problem) for name, problem in skipped.items()})
    write_text_atomically(osp.join(args.out_dir, 'predictions.json'),
                          json.dumps(predictions, indent=1))
    if skipped:
        print(f'{len(images)} images predicted, {len(skipped)} skipped (marked "skipped" in '
              f'{osp.join(args.out_dir, "predictions.json")})', file=sys.stderr)


if __name__ == '__main__':
    run_main(main)
