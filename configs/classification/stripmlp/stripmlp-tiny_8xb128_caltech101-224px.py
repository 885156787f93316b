# Strip-MLP-T on Caltech-101 as the Strip-MLP paper reports it: the ImageNet recipe of
# stripmlp-tiny_8xb128_in1k.py (the official smlp_*_categories101.yaml only change the data and
# NUM_CLASSES), trained from scratch on the 80/20 per-class split made by
#   python tools/dataset_converters/split_caltech101.py 101_ObjectCategories data/caltech101
# (seed 1024), read as data/caltech101/{train,val}/<class>/<image>.
_base_ = './stripmlp-tiny_8xb128_in1k.py'

num_classes = 101
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(_delete_=True, type='CustomDataset',
                                     data_root='data/caltech101', data_prefix='train',
                                     pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(dataset=dict(_delete_=True, type='CustomDataset', data_root='data/caltech101',
                                   data_prefix='val', pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
