"""timm.create_model('vmlp_<model>_<arch>'), classifiers and features_only."""
import pytest
import torch

timm = pytest.importorskip('timm')
import vmlp_mm.timm_models  # noqa: E402,F401  (registers the models)
from vmlp_mm.families import FAMILIES  # noqa: E402
from vmlp_testing import FAMILY_NAMES  # noqa: E402


def test_every_canonical_arch_is_registered_and_builds():
    names = {f'vmlp_{f.name}_{arch}': (f, arch) for f in FAMILIES.values() for arch in f.archs}
    assert set(timm.list_models('vmlp_*')) == set(names)
    for name, (family, arch) in names.items():
        model = timm.create_model(name, num_classes=0)
        assert model.backbone.arch_settings == family.backbone.arch_zoo[arch]
        assert model.pretrained_cfg['architecture'] == name


@pytest.mark.parametrize('model', FAMILY_NAMES)
def test_classifier_and_features_only(model):
    classifier = timm.create_model(f'vmlp_{model}_nano', num_classes=7).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert classifier(x).shape == (2, 7)
        assert classifier.forward_head(classifier.forward_features(x), pre_logits=True).shape \
            == (2, 256)
    classifier.reset_classifier(3)
    assert classifier.get_classifier().out_features == 3

    features = timm.create_model(f'vmlp_{model}_nano', features_only=True,
                                 out_indices=(1, 2, 3)).eval()
    with torch.no_grad():
        outs = features(torch.randn(1, 3, 96, 160))
    assert features.feature_info.channels() == [64, 128, 256]
    assert features.feature_info.reduction() == [8, 16, 32]
    assert [tuple(o.shape[1:]) for o in outs] == [(64, 12, 20), (128, 6, 10), (256, 3, 5)]


def test_vmlp_checkpoint_loads_into_the_timm_model(tmp_path):
    """Classification checkpoints of tools/train.py (mmpretrain names) load with
    checkpoint_path and give the same logits."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    classifier = MODELS.build(dict(
        type='ImageClassifier', backbone=dict(type='vmlp_mm.ActiveMLP', arch='nano'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=256))).eval()
    path = tmp_path / 'classifier.pth'
    torch.save({'state_dict': classifier.state_dict()}, path)
    model = timm.create_model('vmlp_activemlp_nano', num_classes=10,
                              checkpoint_path=str(path)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), classifier(x, mode='tensor'))


def test_pretrained_download_is_a_clear_error():
    with pytest.raises(ValueError, match='checkpoint_path'):
        timm.create_model('vmlp_msmlp_nano', pretrained=True)
