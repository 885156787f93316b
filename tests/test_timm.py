"""The timm model contract of every ``vmlp_*`` model, as timm checks its own models: pretrained
configs, the classifier interface, features_only through timm's wrappers, fx tracing and export,
layer decay, the authors' checkpoint files, and use as an encoder elsewhere."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

timm = pytest.importorskip('timm')
from timm.layers import create_feature_extractor, get_graph_node_names  # noqa: E402
from timm.optim import create_optimizer_v2  # noqa: E402

import vmlp_mm.timm_models  # noqa: E402,F401  (registers the models)
from vmlp_mm.families import FAMILIES, get_family  # noqa: E402
from vmlp_mm.utils.checkpoint import CheckpointError, CheckpointMismatchError  # noqa: E402
from vmlp_testing import (  # noqa: E402
    FAMILY_NAMES,
    quick_first,
    smallest_manifest,
    state_dict_from_manifest,
)

ALL_NAMES = {f'vmlp_{f.name}_{arch}': (f, arch) for f in FAMILIES.values() for arch in f.archs}
SMALL = [f'vmlp_{name}_nano' for name in FAMILY_NAMES]


def official_file(official_keys_dir, tmp_path, model):
    """The family's smallest official model as its authors publish it -- the state dict under
    'model' (Swin-style), the training state beside it -- and its converted state dict, arch
    and backbone settings."""
    state_dict = state_dict_from_manifest(smallest_manifest(official_keys_dir, model))
    path = str(tmp_path / f'{model}_official.pth')
    torch.save({'model': state_dict, 'epoch': 299, 'max_accuracy': 82.1}, path)
    return (path, *get_family(model).convert(state_dict))


def test_every_arch_is_registered_with_a_pretrained_config():
    assert set(timm.list_models('vmlp_*')) == set(ALL_NAMES)
    for name, (family, arch) in ALL_NAMES.items():
        model = timm.create_model(name)
        cfg = model.pretrained_cfg
        assert model.backbone.arch_settings == family.backbone.arch_zoo[arch]
        assert cfg['architecture'] == name and cfg['num_classes'] == 1000
        size = family.backbone.pretraining_size_of(family.backbone.arch_zoo[arch])
        assert cfg['input_size'] == (3, size, size) and cfg['pool_size'] == (size // 32, ) * 2
        state = model.state_dict()
        assert cfg['first_conv'] + '.weight' in state and cfg['classifier'] + '.weight' in state
        assert cfg['license'] == family.license and family.paper in cfg['paper_ids']
        assert cfg.get('tag') == ('official_in1k' if arch in family.weights else None)
        assert cfg['origin_url'] == family.weights.get(arch, family.code)
        assert not cfg['fixed_input_size']
        # the interface on every arch (behaviour: the small archs below)
        channels = family.backbone.arch_zoo[arch]['channels']
        assert model.num_features == model.head_hidden_size == channels[-1]
        assert [(i['num_chs'], i['reduction']) for i in model.feature_info] == [
            (c, 4 * 2**i) for i, c in enumerate(channels)]
        assert model.get_classifier() is model.head.fc and model.default_cfg is cfg
        for method in ('forward_features', 'forward_head', 'forward_intermediates',
                       'prune_intermediate_layers', 'reset_classifier', 'set_grad_checkpointing',
                       'group_matcher', 'no_weight_decay'):
            assert callable(getattr(model, method))
    # the archs with released weights are listed as timm's pretrained models
    assert set(timm.list_pretrained('vmlp_*')) == {
        f'vmlp_{f.name}_{arch}.official_in1k' for f in FAMILIES.values() for arch in f.weights
        if f.weights[arch].startswith('https://tsciencescu')}
    assert {arch for f in FAMILIES.values() for arch in f.weights} <= {
        arch for f in FAMILIES.values() for arch in f.archs}


@pytest.mark.parametrize('name', SMALL)
def test_classifier_interface(name):
    model = timm.create_model(name, num_classes=7).eval()
    x = torch.randn(2, 3, 72, 88)
    c = model.num_features
    assert model.head_hidden_size == c == model.feature_info[-1]['num_chs']
    assert [i['reduction'] for i in model.feature_info] == [4, 8, 16, 32]
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, c, 3, 3)  # ceil(72 / 32), ceil(88 / 32)
        assert model.forward_head(features, pre_logits=True).shape == (2, c)
        torch.testing.assert_close(model.forward_head(features), model(x))
        assert model(x).shape == (2, 7)
        model.reset_classifier(0, '')  # timm: no head, no pooling -> the unpooled map
        assert model.get_classifier().__class__ is nn.Identity
        assert model(x).shape == (2, c, 3, 3)
        model.reset_classifier(5, 'avg')
        assert model(x).shape == (2, 5)
        model.reset_classifier(4, '')  # per-position logits
        assert model(x).shape == (2, 4, 3, 3)
    unpooled = timm.create_model(name, num_classes=0, global_pool='').eval()
    with torch.no_grad():
        assert unpooled(x).shape == (2, c, 3, 3)
    assert timm.create_model(name, num_classes=0)(x).shape == (2, c)
    grey = timm.create_model(name, in_chans=1, drop_rate=0.3, drop_path_rate=0.2)
    assert grey(torch.randn(2, 1, 64, 64)).shape == (2, 1000)
    assert grey.head.drop.p == 0.3
    assert max(max(r) for r in grey.backbone.drop_path_rates) == pytest.approx(0.2)
    with pytest.raises(ValueError, match='global_pool'):
        model.reset_classifier(3, 'max')


@pytest.mark.parametrize('name', SMALL)
def test_forward_intermediates_and_pruning(name):
    model = timm.create_model(name).eval()
    x = torch.randn(1, 3, 72, 88)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x))
        assert [m.shape[1] for m in maps] == [i['num_chs'] for i in model.feature_info]
        assert [m.shape[2:] for m in maps] == [(18, 22), (9, 11), (5, 6), (3, 3)]
        last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
        assert [m.shape[1] for m in last_two] == [m.shape[1] for m in maps[2:]]
        torch.testing.assert_close(last_two[1], maps[3])
        normed = model.forward_intermediates(x, indices=[3], norm=True, intermediates_only=True)
        torch.testing.assert_close(normed[0], model.backbone.norm3(maps[3]))
        early = model.forward_intermediates(x, indices=[0, 1], stop_early=True)[1]
        torch.testing.assert_close(early[1], maps[1])
    kept = model.prune_intermediate_layers([0, 1])
    assert kept == [0, 1] and len(model.backbone.stages) == 2
    assert model.num_features == model.feature_info[1]['num_chs']
    with torch.no_grad():
        pruned = model.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
    torch.testing.assert_close(pruned[1], maps[1])


@pytest.mark.parametrize('name', SMALL)
def test_grad_checkpointing_layer_decay_and_weight_decay(name, monkeypatch):
    import torch.utils.checkpoint as checkpoint
    model = timm.create_model(name).train()
    calls = []
    original = checkpoint.checkpoint
    monkeypatch.setattr(checkpoint, 'checkpoint',
                        lambda fn, *a, **k: calls.append(fn) or original(fn, *a, **k))
    model.set_grad_checkpointing()
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    assert len(calls) == sum(model.backbone.depths)
    # timm's layer-wise lr decay: stem, each block, then the head, every parameter in a group
    optimizer = create_optimizer_v2(model, 'adamw', lr=1e-3, layer_decay=0.5)
    scales = sorted({g['lr_scale'] for g in optimizer.param_groups})
    assert len(scales) == sum(model.backbone.depths) + 2
    assert sum(len(g['params']) for g in optimizer.param_groups) == len(list(model.parameters()))
    coarse = {model.group_matcher(coarse=True)(n) for n, _ in model.named_parameters()}
    assert coarse == {(i, ) for i in range(len(model.backbone.depths) + 2)}
    assert all(n in dict(model.named_parameters()) for n in model.no_weight_decay())


def test_no_weight_decay_follows_the_official_recipe():
    model = timm.create_model('vmlp_activemlp_nano')
    assert model.no_weight_decay() and all('.peg.' in n for n in model.no_weight_decay())
    assert timm.create_model('vmlp_msmlp_nano').no_weight_decay() == set()


@pytest.mark.parametrize('name', SMALL)
def test_features_only_through_timm(name):
    for kwargs in ({}, dict(feature_cls='getter')):
        features = timm.create_model(name, features_only=True, out_indices=(1, 2, 3),
                                     **kwargs).eval()
        with torch.no_grad():
            outs = features(torch.randn(1, 3, 96, 160))
        channels = [o.shape[1] for o in outs]
        assert features.feature_info.channels() == channels
        assert features.feature_info.reduction() == [8, 16, 32]
        assert [tuple(o.shape[2:]) for o in outs] == [(12, 20), (6, 10), (3, 5)]
        assert features.pretrained_cfg['architecture'] == name
        assert features.default_cfg is features.pretrained_cfg
    for other in ('list', 'hook', 'fx'):
        with pytest.raises(ValueError, match="feature_cls='getter'"):
            timm.create_model(name, features_only=True, feature_cls=other)


@pytest.mark.parametrize('name', SMALL)
def test_fx_tracing_and_export(name):
    """timm's fx feature extraction (registered leaves) in train and eval, forward and backward;
    torch.export; torch.jit.script refuses with the reason."""
    x = torch.randn(2, 3, 72, 88)
    for train in (False, True):
        model = timm.create_model(name, num_classes=5).train(train)
        train_nodes, eval_nodes = get_graph_node_names(model)
        last = (train_nodes if train else eval_nodes)[-1]
        traced = create_feature_extractor(model, [last]).train(train)
        torch.manual_seed(0)
        out = traced(x)[last]
        if train:
            out.sum().backward()
            assert all(p.grad is not None for p in traced.parameters() if p.requires_grad)
        else:
            torch.testing.assert_close(out, model(x))
    # features_only models: the stage maps through timm's feature wrapper, traced
    features = timm.create_model(name, features_only=True).eval()
    last = get_graph_node_names(features)[1][-1]
    traced = create_feature_extractor(features, [last])
    torch.testing.assert_close(traced(x)[last], features(x)[-1])
    traced.train()(x)[last].sum().backward()
    model = timm.create_model(name, num_classes=5).eval()
    exported = torch.export.export(model, (x, ))
    torch.testing.assert_close(exported.module()(x), model(x))
    with pytest.raises(RuntimeError, match='torch.export'):
        torch.jit.script(model)


@pytest.mark.parametrize('model_name', quick_first(FAMILY_NAMES))
def test_authors_checkpoint_loads_as_published(official_keys_dir, tmp_path, model_name):
    """pretrained_cfg_overlay=dict(file=<authors' file>) converts in memory, through the family's
    converter: the same weights as the converter script's; features_only too; a file of another
    arch or family is refused with the converters' errors."""
    path, converted, arch, overrides = official_file(official_keys_dir, tmp_path, model_name)
    name = f'vmlp_{model_name}_{arch}'
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path),
                              **overrides)
    state = model.state_dict()
    assert state.keys() == converted.keys()
    assert all(torch.equal(state[k], v.to(state[k].dtype)) for k, v in converted.items())
    # another number of classes: timm drops the head, everything else loads
    model = timm.create_model(name, pretrained=True, num_classes=3,
                              pretrained_cfg_overlay=dict(file=path), **overrides)
    assert torch.equal(model.state_dict()['backbone.patch_embed.' + next(
        k.split('patch_embed.')[1] for k in converted if 'patch_embed.' in k)],
        converted[next(k for k in converted if 'patch_embed.' in k)])
    features = timm.create_model(name, pretrained=True, features_only=True,
                                 pretrained_cfg_overlay=dict(file=path), **overrides)
    features_state = features.state_dict()
    assert all(torch.equal(features_state['model.' + k], v.to(features_state['model.' + k].dtype))
               for k, v in converted.items() if 'model.' + k in features_state)
    for other in [a for a in get_family(model_name).archs if a != arch][:1]:
        with pytest.raises(CheckpointMismatchError, match=f'build the model with arch={arch!r}'):
            timm.create_model(f'vmlp_{model_name}_{other}', pretrained=True,
                              pretrained_cfg_overlay=dict(file=path))
    other_family = next(n for n in FAMILY_NAMES if n != model_name)
    with pytest.raises(CheckpointMismatchError):
        timm.create_model(f'vmlp_{other_family}_nano', pretrained=True,
                          pretrained_cfg_overlay=dict(file=path))


def test_pretrained_without_a_download_says_where_the_weights_are():
    with pytest.raises(ValueError, match='drive.google.com.*pretrained_cfg_overlay'):
        timm.create_model('vmlp_posmlp_tiny', pretrained=True)
    with pytest.raises(ValueError, match='github.com/Zhicaiwww/PosMLP'):
        timm.create_model('vmlp_posmlp_nano', pretrained=True)


def test_vmlp_checkpoint_loads_into_the_timm_model(tmp_path):
    """Classification checkpoints of tools/train.py (mmpretrain names) load with
    checkpoint_path and as pretrained files, and give the same logits."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    classifier = MODELS.build(dict(
        type='ImageClassifier', backbone=dict(type='vmlp_mm.ActiveMLP', arch='nano'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=256))).eval()
    path = tmp_path / 'classifier.pth'
    torch.save({'state_dict': classifier.state_dict(), 'meta': {}}, path)
    x = torch.randn(2, 3, 64, 64)
    for kwargs in (dict(checkpoint_path=str(path)),
                   dict(pretrained=True, pretrained_cfg_overlay=dict(file=str(path),
                                                                     num_classes=10))):
        model = timm.create_model('vmlp_activemlp_nano', num_classes=10, **kwargs).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(x), classifier(x, mode='tensor'))


class UNet(nn.Module):
    """A small U-Net decoder over a timm encoder's feature levels, as segmentation libraries
    that take any timm model build one."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        channels = encoder.feature_info.channels()
        self.lateral = nn.ModuleList(nn.Conv2d(c, 32, 1) for c in channels)
        self.head = nn.Conv2d(32, num_classes, 3, padding=1)

    def forward(self, x):
        levels = self.encoder(x)
        y = self.lateral[-1](levels[-1])
        for level, lateral in zip(reversed(levels[:-1]), reversed(self.lateral[:-1])):
            y = F.interpolate(y, size=level.shape[2:], mode='bilinear') + lateral(level)
        return F.interpolate(self.head(y), size=x.shape[2:], mode='bilinear')


@pytest.mark.parametrize('model_name', quick_first(FAMILY_NAMES))
def test_encoder_for_a_unet_with_the_authors_weights(official_keys_dir, tmp_path, model_name):
    path, _, arch, overrides = official_file(official_keys_dir, tmp_path, model_name)
    encoder = timm.create_model(f'vmlp_{model_name}_{arch}', pretrained=True, features_only=True,
                                pretrained_cfg_overlay=dict(file=path), **overrides)
    net = UNet(encoder, num_classes=4).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)
    x, target = torch.randn(2, 3, 96, 128), torch.randint(0, 4, (2, 96, 128))
    loss = F.cross_entropy(net(x), target)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in net.parameters() if p.requires_grad)
    optimizer.step()


@pytest.mark.parametrize('name', quick_first(SMALL))
def test_mmpretrain_timm_backbone(name):
    """mmpretrain's TIMMBackbone takes every vmlp_* model."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    backbone = MODELS.build(dict(type='TIMMBackbone', model_name=name, features_only=True,
                                 out_indices=(0, 1, 2, 3)))
    outs = backbone(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == backbone.timm_model.feature_info.channels()


def test_backbone_classes_at_the_top_level():
    import vmlp_mm
    from vmlp_mm import MSMLP, ActiveMLP, PosMLP, RepMLPNet, StripMLP  # noqa: F401
    assert {MSMLP, ActiveMLP, PosMLP, RepMLPNet, StripMLP} == {
        f.backbone for f in FAMILIES.values() if f.name != 'toymlp'}
    assert vmlp_mm.timm_models.checkpoint_filter_fn is not None
    assert vmlp_mm.VisionMLPClassifier.__name__ == 'VisionMLPClassifier'


def test_next_to_transformers_5(repo_root):
    """With transformers 5 installed (tests.txt pins it), mmpretrain still imports after vmlp_mm
    -- in a fresh process, as every tool starts -- and transformers' TimmBackbone takes our
    models."""
    import subprocess
    import sys
    transformers = pytest.importorskip('transformers')
    code = ('import vmlp_mm, mmpretrain.models, mmseg.models, mmdet.models, transformers, sys; '
            "print(transformers.__version__, 'stand-in' if 'vmlp_mm left them out' in "
            "(sys.modules['mmpretrain.models.multimodal'].__doc__ or '') else 'upstream')")
    result = subprocess.run([sys.executable, '-c', code], cwd=repo_root, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    version, multimodal = result.stdout.split()
    assert multimodal == ('stand-in' if int(version.split('.')[0]) >= 5 else 'upstream')
    config = transformers.TimmBackboneConfig(backbone='vmlp_posmlp_nano', out_indices=(1, 2, 3),
                                             use_pretrained_backbone=False)
    maps = transformers.TimmBackbone(config)(torch.randn(1, 3, 64, 64)).feature_maps
    assert [m.shape[1] for m in maps] == [64, 128, 256]


def test_checkpoint_path_takes_the_authors_file_and_refuses_non_finite_weights(
        official_keys_dir, tmp_path):
    """timm's create_model(checkpoint_path=) ends in the classifier's load_state_dict: the same
    conversion and the same refusal of diverged weights as vmlp_mm's loader."""
    path, converted, arch, overrides = official_file(official_keys_dir, tmp_path, 'msmlp')
    model = timm.create_model(f'vmlp_msmlp_{arch}', checkpoint_path=path, **overrides)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in converted.items())
    diverged = {k: v.clone() for k, v in model.state_dict().items()}
    diverged['head.fc.bias'][0] = float('nan')
    torch.save(diverged, tmp_path / 'nan.pth')
    with pytest.raises(CheckpointError, match=r'non-finite weights \(NaN or inf\) in 1 tensors: '
                       'head.fc.bias'):
        timm.create_model(f'vmlp_msmlp_{arch}', checkpoint_path=str(tmp_path / 'nan.pth'),
                          **overrides)
