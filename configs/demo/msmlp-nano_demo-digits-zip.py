# The digits demo read from zip archives, as the seed repos' --zip --cache-mode part:
#   python tools/dataset_converters/folder_to_zip.py data/demo/digits data/demo/digits_zip
# makes {train,val}.zip + {train,val}_map.txt; every rank caches only the shard its
# ShardedRandomSampler reads (cache_mode='part'). For ImageNet use the same dataset dicts with
# data_root='data/imagenet_zip' and the ImageNet class names (ZipImageNet's default).
_base_ = './msmlp-nano_demo-digits.py'

data_root = 'data/demo/digits_zip'
classes = [str(i) for i in range(10)]
train_dataloader = dict(
    dataset=dict(_delete_=True, type='vmlp_mm.ZipImageNet', data_root=data_root, split='train',
                 cache_mode='part', classes=classes, pipeline={{_base_.train_pipeline}}),
    sampler=dict(_delete_=True, type='vmlp_mm.ShardedRandomSampler', shuffle=True))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='vmlp_mm.ZipImageNet', data_root=data_root, split='val',
                 cache_mode='no', classes=classes, pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
