"""Zipped ImageNet as the seed repos read it (``--zip --cache-mode part``), on mmpretrain.

``<data_root>/train.zip`` + ``train_map.txt`` and ``val.zip`` + ``val_map.txt``; each map line is
``<path inside the zip> <label>``. Images are read from the archives without unpacking, through
an mmengine file backend for ``zip://<archive>@<member>`` paths, so the usual
``LoadImageFromFile`` of the pipelines reads them. ``cache_mode`` keeps compressed image bytes
in memory: ``'part'`` only the shard this rank reads (with :class:`ShardedRandomSampler`),
``'full'`` all of them, ``'no'`` none.
"""
import math
import os
import os.path as osp
import zipfile
from typing import Dict, Iterator, List, Optional

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.fileio import BaseStorageBackend, register_backend
from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset
from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
from torch.utils.data import Sampler

from ..registry import DATA_SAMPLERS, DATASETS


def zip_uri(archive: str, member: str) -> str:
    return f'zip://{archive}@{member}'


class ZipBackend(BaseStorageBackend):
    """Reads ``zip://<archive>@<member>`` paths: members come from the archive, or from the
    in-memory cache that :class:`ZipImageNet` fills. Archive handles are opened per process
    (zip handles cannot be shared across dataloader workers)."""
    cache: Dict[str, bytes] = {}
    _archives: Dict[tuple, zipfile.ZipFile] = {}

    @classmethod
    def archive(cls, path: str) -> zipfile.ZipFile:
        key = (os.getpid(), path)
        if key not in cls._archives:
            cls._archives[key] = zipfile.ZipFile(path)
        return cls._archives[key]

    @staticmethod
    def split(uri: str):
        path = uri[len('zip://'):] if uri.startswith('zip://') else uri
        archive, sep, member = path.partition('@')
        if not sep:
            raise ValueError(f'{uri!r} is not a zip://<archive>@<member> path')
        return archive, member

    def get(self, filepath) -> bytes:
        filepath = str(filepath)
        if filepath in self.cache:
            return self.cache[filepath]
        archive, member = self.split(filepath)
        return self.archive(archive).read(member)

    def get_text(self, filepath, encoding: str = 'utf-8') -> str:
        return self.get(filepath).decode(encoding)


register_backend('zip', ZipBackend, prefixes='zip')


@DATASETS.register_module()
class ZipImageNet(BaseDataset):
    """ImageNet (or any classification set) stored as ``<split>.zip`` + ``<split>_map.txt``.

    Args:
        data_root: the folder with the archives and map files.
        split: ``'train'`` or ``'val'`` (any name with a matching zip and map file).
        cache_mode: ``'no'``, ``'part'`` (this rank's shard: ``rank::world_size``, the indices
            :class:`ShardedRandomSampler` gives it) or ``'full'``.
        classes: class names; ImageNet-1k's by default.
        **kwargs: :class:`mmpretrain.datasets.BaseDataset` arguments (``pipeline``, ...).
    """
    CACHE_MODES = ('no', 'part', 'full')

    def __init__(self, data_root: str, split: str = 'train', cache_mode: str = 'no',
                 classes=IMAGENET_CATEGORIES, **kwargs):
        if cache_mode not in self.CACHE_MODES:
            raise ValueError(f'cache_mode must be one of {self.CACHE_MODES}, got {cache_mode!r}')
        self.archive_path = osp.join(data_root, f'{split}.zip')
        self.cache_mode = cache_mode
        for path in (self.archive_path, osp.join(data_root, f'{split}_map.txt')):
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{path} not found: ZipImageNet needs {split}.zip and {split}_map.txt in '
                    f'{data_root} (tools/dataset_converters/folder_to_zip.py makes them from an '
                    'ImageNet-style folder)')
        super().__init__(ann_file=f'{split}_map.txt', data_root=data_root,
                         metainfo=dict(classes=classes), **kwargs)

    def load_data_list(self) -> List[dict]:
        members = set(ZipBackend.archive(self.archive_path).namelist())
        data_list, missing = [], []
        with open(self.ann_file) as f:
            for line_number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    member, label = line.rsplit(maxsplit=1)
                    label = int(label)
                except ValueError:
                    raise ValueError(f'{self.ann_file}:{line_number}: expected "<path in zip> '
                                     f'<label>", got {line.strip()!r}') from None
                member = member.lstrip('/')
                if member not in members:
                    missing.append(member)
                data_list.append(dict(img_path=zip_uri(self.archive_path, member),
                                      gt_label=label))
        if missing:
            raise FileNotFoundError(f'{len(missing)} images of {self.ann_file} are not in '
                                    f'{self.archive_path}, e.g. {missing[:3]}')
        return data_list

    def full_init(self):
        if self._fully_initialized:
            return
        super().full_init()
        if self.cache_mode == 'no':
            return
        rank, world_size = get_dist_info()
        indices = range(len(self)) if self.cache_mode == 'full' else range(
            rank, len(self), world_size)
        archive = ZipBackend.archive(self.archive_path)
        for index in indices:
            uri = self.get_data_info(index)['img_path']
            ZipBackend.cache[uri] = archive.read(ZipBackend.split(uri)[1])
        print_log(f'{self.archive_path}: cached {len(indices)} of {len(self)} images '
                  f'(cache_mode={self.cache_mode!r}, rank {rank} of {world_size})',
                  logger='current')


@DATA_SAMPLERS.register_module()
class ShardedRandomSampler(Sampler):
    """Each rank reads only its fixed shard ``rank::world_size`` of the dataset, reshuffled every
    epoch (the seed repos' sampler for ``--cache-mode part``, so a rank only touches images it
    has cached). Shards are padded to equal length by repeating their first indices.

    Args:
        dataset: the dataset.
        shuffle: reshuffle the shard every epoch.
        seed: shared random seed (synchronised across ranks when None).
    """

    def __init__(self, dataset, shuffle: bool = True, seed: Optional[int] = None):
        rank, world_size = get_dist_info()
        self.indices = list(range(rank, len(dataset), world_size))
        self.num_samples = math.ceil(len(dataset) / world_size)
        self.indices += self.indices[:self.num_samples - len(self.indices)]
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(self.indices)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.indices), generator=generator).tolist()
        return iter(self.indices[i] for i in order)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
