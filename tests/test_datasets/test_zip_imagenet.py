"""Zipped ImageNet (the seed repos' --zip --cache-mode part) and the Caltech-101 split tool."""
import os
import os.path as osp
import subprocess
import sys
import zipfile

import pytest

ZIP_CONFIG = 'configs/demo/msmlp-nano_demo-digits-zip.py'


@pytest.fixture(scope='module')
def digits_zip(repo_root, demo_data, tmp_path_factory):
    dst = str(tmp_path_factory.mktemp('digits_zip'))
    subprocess.run([sys.executable, 'tools/dataset_converters/folder_to_zip.py',
                    osp.join(demo_data, 'digits'), dst], cwd=repo_root, check=True,
                   capture_output=True)
    return dst


@pytest.mark.slow
def test_trains_from_zip_archives(repo_root, digits_zip, tmp_path):
    result = subprocess.run(
        [sys.executable, 'tools/train.py', ZIP_CONFIG, '--work-dir', str(tmp_path),
         '--cfg-options', f'train_dataloader.dataset.data_root={digits_zip}',
         f'val_dataloader.dataset.data_root={digits_zip}', 'train_cfg.max_epochs=2',
         'train_cfg.val_interval=2', 'train_dataloader.dataset.indices=32',
         'val_dataloader.dataset.indices=16', 'train_dataloader.num_workers=0'],
        cwd=repo_root, capture_output=True, text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "cached 32 of 32 images (cache_mode='part'" in log
    assert 'accuracy/top1' in log


def test_part_cache_holds_only_the_ranks_shard(digits_zip, monkeypatch):
    from vmlp_mm.datasets import zip_imagenet
    monkeypatch.setattr(zip_imagenet, 'get_dist_info', lambda: (1, 3))  # rank 1 of 3
    monkeypatch.setattr(zip_imagenet.ZipBackend, 'cache', {})
    dataset = zip_imagenet.ZipImageNet(digits_zip, 'val', cache_mode='part',
                                       classes=[str(i) for i in range(10)], indices=10,
                                       pipeline=[dict(type='LoadImageFromFile')])
    shard = [dataset.get_data_info(i)['img_path'] for i in (1, 4, 7)]
    assert sorted(zip_imagenet.ZipBackend.cache) == sorted(shard)
    sampler = zip_imagenet.ShardedRandomSampler(dataset, seed=0)
    assert len(sampler) == 4 and sorted(sampler) == [1, 1, 4, 7]  # padded to ceil(10 / 3)
    first = list(sampler)
    sampler.set_epoch(1)
    assert sorted(list(sampler)) == sorted(first)
    # an uncached image still reads from the archive
    assert dataset[0]['img'].shape[:2] == (64, 64)


def test_missing_images_and_files_are_clear_errors(digits_zip, tmp_path):
    from vmlp_mm.datasets.zip_imagenet import ZipImageNet
    with pytest.raises(FileNotFoundError, match='folder_to_zip.py'):
        ZipImageNet(str(tmp_path), 'train')
    with zipfile.ZipFile(tmp_path / 'train.zip', 'w') as zf:
        zf.writestr('a/1.png', b'')
    (tmp_path / 'train_map.txt').write_text('a/1.png 0\na/2.png 0\n')
    with pytest.raises(FileNotFoundError, match=r"1 images .* are not in .*\['a/2.png'\]"):
        ZipImageNet(str(tmp_path), 'train')


def test_caltech101_split_is_reproducible(repo_root, tmp_path):
    from tools.dataset_converters.split_caltech101 import split
    from vmlp_mm.utils.outputs import OutputExistsError
    src = tmp_path / 'src'
    for name, count in (('accordion', 10), ('airplanes', 7), ('BACKGROUND_Google', 3)):
        os.makedirs(src / name)
        for i in range(count):
            (src / name / f'image_{i:04d}.jpg').write_bytes(b'x')
    first = split(str(src), str(tmp_path / 'a'))
    second = split(str(src), str(tmp_path / 'b'))
    assert first == second and set(first) == {'accordion', 'airplanes'}
    assert [len(t) for t, _ in first.values()] == [8, 5]  # int(0.8 * n) per class
    assert sorted(os.listdir(tmp_path / 'a' / 'val' / 'airplanes')) == sorted(first['airplanes'][1])
    with pytest.raises(OutputExistsError, match='exists'):
        split(str(src), str(tmp_path / 'a'))
