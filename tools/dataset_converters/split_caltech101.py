"""Split Caltech-101 into train/val folders, 80/20 per class, reproducibly (Strip-MLP's split).

    python tools/dataset_converters/split_caltech101.py 101_ObjectCategories data/caltech101

SRC/<class>/<image> -> DST/train/<class>/ and DST/val/<class>/ (copies; the source is not
touched, an existing DST is refused). Within every class the images are shuffled with Python's
``random`` seeded once with 1024 and the first ``int(0.8 * n)`` go to train, as the official
``categories101_train_val_split.py``. Classes and images are taken in sorted order, so the split
is the same on every machine (the official script uses ``os.listdir`` order, which depends on
the file system). ``BACKGROUND_Google`` is not a category and is left out (``--keep`` keeps it).
"""
import argparse
import os
import os.path as osp
import random
import shutil

from vmlp_mm.utils.cli import run_main
from vmlp_mm.utils.outputs import check_output


def split(src: str, dst: str, seed: int = 1024, ratio: float = 0.8,
          exclude=('BACKGROUND_Google', )) -> dict:
    """Returns ``{class: (train images, val images)}`` after copying them."""
    # a folder of copies: never merged into another
    check_output(dst, [src], force=None, what='DST')
    rng = random.Random(seed)
    classes = sorted(d for d in os.listdir(src)
                     if osp.isdir(osp.join(src, d)) and d not in exclude)
    result = {}
    for name in classes:
        images = sorted(os.listdir(osp.join(src, name)))
        rng.shuffle(images)
        cut = int(len(images) * ratio)
        result[name] = (images[:cut], images[cut:])
        for subset, chosen in zip(('train', 'val'), result[name]):
            os.makedirs(osp.join(dst, subset, name))
            for image in chosen:
                shutil.copy2(osp.join(src, name, image), osp.join(dst, subset, name, image))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='101_ObjectCategories')
    parser.add_argument('dst', help='output folder (train/ and val/)')
    parser.add_argument('--seed', type=int, default=1024)
    parser.add_argument('--ratio', type=float, default=0.8)
    parser.add_argument('--keep', action='store_true', help='keep BACKGROUND_Google')
    args = parser.parse_args()
    result = split(args.src, args.dst, args.seed, args.ratio,
                   () if args.keep else ('BACKGROUND_Google', ))
    train = sum(len(t) for t, _ in result.values())
    val = sum(len(v) for _, v in result.values())
    print(f'{len(result)} classes: {train} train, {val} val images in {args.dst}')


if __name__ == '__main__':
    run_main(main)
