# Strip-MLP-T on CIFAR-100: the CIFAR-10 setting of stripmlp-tiny_8xb128_cifar10-224px.py with
# data/cifar100/cifar-100-python and 100 classes.
_base_ = './stripmlp-tiny_8xb128_cifar10-224px.py'

num_classes = 100
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
dataset = dict(type='CIFAR100', data_root='data/cifar100', download=False)
train_dataloader = dict(dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
