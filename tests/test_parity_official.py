"""Outputs equal to the official implementations for the same weights.

The official model code is not part of this repository; point ``VMLP_OFFICIAL_SRC`` at a folder
holding the official repositories (e.g. ``$VMLP_OFFICIAL_SRC/MS-MLP/models/ms_mlp.py``) to run
these tests, otherwise they skip.
"""
import importlib
import importlib.util
import os
import os.path as osp
import sys

import pytest
import torch

from vmlp_mm.converters import check_state_dict
from vmlp_mm.families import VisionMLPClassifier, get_family
from vmlp_testing import build_config_classifier, convert_official, randomize_batchnorms

OFFICIAL_SRC = os.environ.get('VMLP_OFFICIAL_SRC', '')


def load_official_module(relpath):
    path = osp.join(OFFICIAL_SRC, relpath)
    if not OFFICIAL_SRC or not osp.isfile(path):
        pytest.skip(f'official source {relpath} not found (set VMLP_OFFICIAL_SRC)')
    name = 'official_' + osp.splitext(osp.basename(path))[0]
    if name not in sys.modules:  # timm's register_model looks the module up there
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def build_vmlp_classifier(model_name, arch, num_classes=1000, backbone_overrides=None):
    return build_config_classifier(get_family(model_name).classification_config(arch),
                                   num_classes, **(backbone_overrides or {}))


MSMLP_YAML = {
    'tiny': dict(embed_dim=96, depths=[3, 3, 9, 3]),
    'small': dict(embed_dim=96, depths=[3, 3, 27, 3]),
    'base': dict(embed_dim=128, depths=[3, 3, 27, 3]),
}


@pytest.mark.parametrize('arch', list(MSMLP_YAML))
def test_msmlp_logits_equal_official(arch):
    official_module = load_official_module('MS-MLP/models/ms_mlp.py')
    torch.manual_seed(0)
    official = official_module.MS_MLP(
        img_size=224, num_classes=1000, shift_size=5, shift_dist=[-2, -1, 0, 1, 2],
        mix_size=[[1, 1, 3, 5, 7], [1, 3, 3, 5, 7], [1, 5, 5, 5, 7], [1, 7, 7, 7, 7]],
        mlp_ratio=4., patch_norm=True, **MSMLP_YAML[arch]).eval()
    # non-default values everywhere, so that a mis-mapped norm or bias shows up
    with torch.no_grad():
        for p in official.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    state_dict, found_arch = convert_official('msmlp', official.state_dict())[:2]
    assert found_arch == arch
    ours = build_vmlp_classifier('msmlp', arch).eval()
    check_state_dict(state_dict, ours)
    ours.load_state_dict(state_dict, strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = official(x)
        got = ours(x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


ACTIVEMLP_FUNCTIONS = {'xtiny': 'ActivexTiny', 'tiny': 'ActiveTiny', 'small': 'ActiveSmall',
                       'base': 'ActiveBase', 'large': 'ActiveLarge'}


@pytest.mark.parametrize('arch', list(ACTIVEMLP_FUNCTIONS))
def test_activemlp_logits_equal_official(arch, monkeypatch):
    import types
    pytest.importorskip('torchvision.ops')
    # the official file imports a printing helper from its training utils (heavy imports)
    monkeypatch.setitem(sys.modules, 'utils',
                        types.SimpleNamespace(dict_to_string=lambda *args, **kwargs: ''))
    # ... and a timm 0.x module path that timm 1.x moved
    import timm.layers
    monkeypatch.setitem(sys.modules, 'timm.models.layers.helpers',
                        types.SimpleNamespace(to_2tuple=timm.layers.to_2tuple))
    official_module = load_official_module('ActiveMLP/models/activemlp.py')
    torch.manual_seed(0)
    official = getattr(official_module, ACTIVEMLP_FUNCTIONS[arch])().eval()
    with torch.no_grad():
        for p in official.parameters():
            p.add_(torch.randn_like(p) * 0.02)
        # offsets of several pixels, so that the sampling is really exercised
        for name, p in official.named_parameters():
            if 'offset_layer.1' in name:
                p.mul_(50)
    state_dict, found_arch = convert_official('activemlp', official.state_dict())[:2]
    assert found_arch == arch
    ours = build_vmlp_classifier('activemlp', arch).eval()
    ours.load_state_dict(state_dict, strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = official(x)
        got = ours(x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


REPMLP_FUNCTIONS = {'t224': 'create_RepMLPNet_T224', 'b224': 'create_RepMLPNet_B224',
                    't256': 'create_RepMLPNet_T256', 'b256': 'create_RepMLPNet_B256',
                    'd256': 'create_RepMLPNet_D256', 'l256': 'create_RepMLPNet_L256'}


@pytest.mark.parametrize('arch', list(REPMLP_FUNCTIONS))
def test_repmlp_logits_equal_official(arch):
    """Training-time and (official locality injection vs ours) deploy-time logits at the
    pretraining size. Only there: with several partitions per map the official inverse reshape
    (``partition_affine``) assigns windows to the wrong channels, see
    ``test_repmlp.py::test_windows_are_independent``."""
    official_module = load_official_module('RepMLP/repmlpnet.py')
    torch.manual_seed(0)
    official = getattr(official_module, REPMLP_FUNCTIONS[arch])().eval()
    randomize_batchnorms(official)
    state_dict, found_arch = convert_official('repmlp', official.state_dict())[:2]
    assert found_arch == arch
    ours = build_vmlp_classifier('repmlp', arch).eval()
    ours.load_state_dict(state_dict, strict=True)
    size = int(arch[1:])
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, mode='tensor'), official(x), rtol=1e-4, atol=1e-4)
        # the official deploy weights convert into our deploy model ...
        official.locality_injection()
        deployed = convert_official('repmlp', official.state_dict())[0]
        ours_deploy = build_vmlp_classifier('repmlp', arch, backbone_overrides={'deploy': True})
        ours_deploy.eval().load_state_dict(deployed, strict=True)
        # ... and our re-parameterisation gives the same weights
        ours.backbone.switch_to_deploy()
        for key, value in ours.state_dict().items():
            torch.testing.assert_close(value, deployed[key], rtol=1e-5, atol=1e-5, msg=key)
        torch.testing.assert_close(ours_deploy(x, mode='tensor'), official(x), rtol=1e-4,
                                   atol=1e-4)


def assert_converted_logits_equal(model_name, arch, official, size=224):
    """Convert the official model's weights, load them strictly into our classifier and compare
    logits on a random batch."""
    state_dict, found_arch = convert_official(model_name, official.state_dict())[:2]
    assert found_arch == arch
    ours = build_vmlp_classifier(model_name, arch).eval()
    ours.load_state_dict(state_dict, strict=True)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, mode='tensor'), official(x), rtol=1e-4, atol=1e-4)


POSMLP_FUNCTIONS = {'tiny': 'PosMLP_T14_224', 'small': 'PosMLP_S14_224'}


@pytest.mark.parametrize('arch', list(POSMLP_FUNCTIONS))
def test_posmlp_logits_equal_official(arch, monkeypatch):
    # the official files import each other as the package ``models``
    path = osp.join(OFFICIAL_SRC, 'PosMLP', 'models', 'posmlp.py')
    if not OFFICIAL_SRC or not osp.isfile(path):
        pytest.skip('official source PosMLP/models/posmlp.py not found (set VMLP_OFFICIAL_SRC)')
    pytest.importorskip('einops')
    monkeypatch.syspath_prepend(osp.join(OFFICIAL_SRC, 'PosMLP'))
    official_module = importlib.import_module('models.posmlp')
    torch.manual_seed(0)
    official = getattr(official_module, POSMLP_FUNCTIONS[arch])().eval()
    randomize_batchnorms(official)
    with torch.no_grad():
        for name, p in official.named_parameters():
            # Gaussian maps several tokens wide, off-centre: the mixing is really exercised
            p.add_(torch.randn_like(p) * (0.5 if 'attention' in name else 0.02))
    assert_converted_logits_equal('posmlp', arch, official)


STRIPMLP_ARCHS = {'tiny_light': (80, [2, 2, 6, 2]), 'tiny': (80, [2, 2, 12, 2]),
                  'small': (96, [2, 2, 18, 2]), 'base': (112, [2, 2, 18, 2])}


@pytest.mark.parametrize('arch', list(STRIPMLP_ARCHS))
def test_stripmlp_logits_equal_official(arch):
    official_module = load_official_module('Strip_MLP/models/strip_mlp.py')
    embed_dim, layers = STRIPMLP_ARCHS[arch]
    torch.manual_seed(0)
    official = official_module.StripMLPNet(embed_dim=embed_dim, layers=layers, alpha=3).eval()
    randomize_batchnorms(official)
    with torch.no_grad():
        for p in official.parameters():
            p.add_(torch.randn_like(p) * 0.02)  # GRN's zero init would hide it
    assert_converted_logits_equal('stripmlp', arch, official)


def test_stripmlp_training_gradients_equal_official():
    """Training mode (batch statistics, no drop path), float64: logits and every parameter's
    gradient equal the official model's. Strip-MLP's training step is reformulated for speed
    (strip FCs over unfolded neighbours, GRN's hand-written backward, channels-last blocks, the
    depthwise op's weight gradient); this checks all of it at once."""
    official_module = load_official_module('Strip_MLP/models/strip_mlp.py')
    embed_dim, layers = STRIPMLP_ARCHS['tiny_light']
    torch.manual_seed(0)
    official = official_module.StripMLPNet(embed_dim=embed_dim, layers=layers, alpha=3).double()
    with torch.no_grad():
        for p in official.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    state_dict, arch = convert_official('stripmlp', official.state_dict())[:2]
    ours = VisionMLPClassifier.of_family(get_family('stripmlp'), arch).double()
    ours.load_state_dict(state_dict)
    for module in [*official.modules(), *ours.modules()]:
        if hasattr(module, 'drop_prob'):
            module.drop_prob = 0.
    official.train()
    ours.train()
    x = torch.randn(2, 3, 224, 224, dtype=torch.float64)
    logits, expected = ours(x), official(x)
    torch.testing.assert_close(logits, expected, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(expected)
    logits.backward(grad)
    expected.backward(grad)
    official_grads = convert_official(
        'stripmlp', {k: p.grad for k, p in official.named_parameters()})[0]
    largest = max(g.abs().max() for g in official_grads.values())
    for name, p in ours.named_parameters():
        reference = official_grads[name]
        # the biases of the 1x1 convs before a training-mode BatchNorm have a zero gradient,
        # computed as rounding noise on both sides
        if reference.abs().max() > 1e-9 * largest:
            torch.testing.assert_close(p.grad, reference, rtol=1e-10, atol=1e-12 * largest,
                                       msg=lambda m: f'{name}: {m}')
