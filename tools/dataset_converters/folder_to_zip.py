"""Pack image folders into the zipped layout of the seed repos (``--zip`` / ZipImageNet).

    python tools/dataset_converters/folder_to_zip.py SRC DST [--splits train val]

SRC/<split>/<class>/<image> (classes in sorted order get labels 0, 1, ..., as mmpretrain's
CustomDataset) becomes DST/<split>.zip (images stored, not recompressed) and
DST/<split>_map.txt with one ``<path in zip> <label>`` line per image. Existing outputs are
never overwritten without ``--force``, and never the source.
"""
import argparse
import os
import os.path as osp
import zipfile

from mmengine.utils import ProgressBar

from vmlp_mm.utils.cli import run_main
from vmlp_mm.utils.outputs import add_force_argument, check_output, written_atomically

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def pack(src: str, dst: str, split: str, force: bool = False) -> int:
    root = osp.join(src, split)
    classes = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
    if not classes:
        raise SystemExit(f'{root} has no class folders')
    archive, map_file = osp.join(dst, f'{split}.zip'), osp.join(dst, f'{split}_map.txt')
    for path in (archive, map_file):
        check_output(path, [src], force)
    images = [(label, name, image) for label, name in enumerate(classes)
              for image in sorted(os.listdir(osp.join(root, name)))
              if image.lower().endswith(IMAGE_SUFFIXES)]
    progress = ProgressBar(len(images))
    with written_atomically(archive) as zip_partial, written_atomically(map_file) as map_partial, \
            zipfile.ZipFile(zip_partial, 'w', zipfile.ZIP_STORED) as zf, \
            open(map_partial, 'w') as mf:
        for label, name, image in images:
            member = f'{name}/{image}'
            zf.write(osp.join(root, name, image), member)
            mf.write(f'{member} {label}\n')
            progress.update()
    return len(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='folder with <split>/<class>/<image>')
    parser.add_argument('dst', help='output folder for <split>.zip and <split>_map.txt')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'])
    add_force_argument(parser)
    args = parser.parse_args()
    check_output(args.dst, [args.src], force=True, what='DST')  # an existing folder is fine
    os.makedirs(args.dst, exist_ok=True)
    for split in args.splits:
        print(f'{split}: {pack(args.src, args.dst, split, args.force)} images -> '
              f'{osp.join(args.dst, split + ".zip")}')


if __name__ == '__main__':
    run_main(main)
