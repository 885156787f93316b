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

import vmlp_mm  # noqa: F401  (before the upstream packages: quiets their import warnings)

# isort: split
import mmcv
from mmengine.config import Config

from vmlp_mm.utils.checkpoint import require_checkpoint_file
from vmlp_mm.utils.outputs import add_force_argument, check_output
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


def classify(cfg, checkpoint, images, device, **_):
    from mmpretrain.apis import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(cfg, pretrained=checkpoint, device=device)
    classes = inferencer.classes or [str(i) for i in range(cfg.model.head.num_classes)]
    for image, result in zip(images, inferencer(images, return_datasamples=True)):
        scores = result.pred_score.cpu()
        top = scores.topk(min(3, len(scores)))
        names = [(classes[int(i)], float(s)) for s, i in zip(top.values, top.indices)]
        picture = draw_classification(mmcv.imread(image, channel_order='rgb'), *names[0],
                                      top=names[1:])
        yield image, picture, dict(label=names[0][0], score=names[0][1])


def segment(cfg, checkpoint, images, device, **_):
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(cfg, weights=checkpoint, device=device)
    meta = inferencer.model.dataset_meta
    results = inferencer(images, return_datasamples=True)
    for image, result in zip(images, results if isinstance(results, list) else [results]):
        labels = result.pred_sem_seg.data[0].cpu().numpy()
        picture = draw_segmentation(mmcv.imread(image, channel_order='rgb'), labels,
                                    meta['classes'], meta.get('palette'))
        present = [meta['classes'][int(c)] for c in sorted(set(labels.flat)) if c < len(
            meta['classes'])]
        yield image, picture, dict(classes_present=present)


def detect(cfg, checkpoint, images, device, score_thr=0.3):
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(cfg, weights=checkpoint, device=device, show_progress=False)
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
    require_checkpoint_file(args.checkpoint)
    # importing the config runs its custom_imports, vmlp_mm.mmengine_loader among them: the
    # inferencers then read the checkpoint through vmlp_mm's loader
    cfg = Config.fromfile(args.config)
    task = TASKS.get(cfg.get('default_scope'))
    if task is None:
        raise SystemExit(f'{args.config}: default_scope {cfg.get("default_scope")!r} is not one '
                         f'of {sorted(TASKS)}')
    images = list_images(args.inputs)
    outputs = [osp.join(args.out_dir, osp.splitext(osp.basename(i))[0] + '.png') for i in images]
    for out in outputs + [osp.join(args.out_dir, 'predictions.json')]:
        check_output(out, [args.inputs, args.checkpoint], args.force)
    os.makedirs(args.out_dir, exist_ok=True)
    predictions = {}
    for (image, picture, prediction), out in zip(
            task(cfg, args.checkpoint, images, args.device, score_thr=args.score_thr), outputs):
        mmcv.imwrite(picture[..., ::-1], out, auto_mkdir=True)  # RGB -> BGR file
        predictions[osp.basename(image)] = prediction
        summary = (f'{len(prediction["instances"])} instances' if task is detect
                   else prediction)
        print(f'{image} -> {out}: {summary}')
    with open(osp.join(args.out_dir, 'predictions.json'), 'w') as f:
        json.dump(predictions, f, indent=1)


if __name__ == '__main__':
    main()
