# The long-range variant of the PosMLP shapes demo (tools/make_demo_data.py's shapes_far): a grey
# shape near the right edge is labelled with the class of a cue shape in its class's colour near
# the left edge, 56-96 pixels away. Compares PosMLP's resolution policies (README), e.g.
#   tools/train.py THIS --cfg-options model.backbone.dense_policy=windowed
_base_ = './upernet_posmlp-nano_demo-shapes-ade.py'

data_root = 'data/demo/shapes_far'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
# background is 96% of these pixels (90% in shapes_ade): weighed 0.15, it weighs about as much
# against the shapes as 0.5 does there
loss_decode = dict(class_weight=[0.15, 1.0, 1.0, 1.0])
model = dict(decode_head=dict(loss_decode=loss_decode),
             auxiliary_head=dict(loss_decode=loss_decode))
