import os.path as osp
import subprocess
import sys

import pytest
import torch

from vmlp_mm.converters import CheckpointMismatchError, check_state_dict
from vmlp_mm.converters.cli import convert_file
from vmlp_mm.families import VisionMLPClassifier, get_family
from vmlp_testing import (
    FAMILY_NAMES,
    build_config_classifier,
    convert_official,
    quick_first,
    smallest_manifest,
    state_dict_from_manifest,
)


def tiny_msmlp_classifier():
    return build_config_classifier(get_family('msmlp').classification_config('tiny'), 1000)


MANIFESTS = [  # model, manifest variant, our arch name, official keys of our stage-1 downsampler
    # and of our norm3
    ('msmlp', 'tiny', 'tiny', 'layers.0.downsample.proj.weight', 'norm.weight'),
    ('msmlp', 'small', 'small', 'layers.0.downsample.proj.weight', 'norm.weight'),
    ('msmlp', 'base', 'base', 'layers.0.downsample.proj.weight', 'norm.weight'),
    ('activemlp', 'xT', 'xtiny', 'blocks.0.1.downsample.proj.weight', 'norm.weight'),
    ('activemlp', 'T', 'tiny', 'blocks.0.1.downsample.proj.weight', 'norm.weight'),
    ('activemlp', 'S', 'small', 'blocks.0.2.downsample.proj.weight', 'norm.weight'),
    ('activemlp', 'B', 'base', 'blocks.0.2.downsample.proj.weight', 'norm.weight'),
    ('activemlp', 'L', 'large', 'blocks.0.2.downsample.proj.weight', 'norm.weight'),
    *[('repmlp', variant, variant.lower(), 'embeds.0.conv.weight',
       'head_norm.weight') for variant in ('T224', 'B224', 'T256', 'B256', 'D256', 'L256')],
    ('posmlp', 'T', 'tiny', 'levels.1.pool.conv.weight', 'norm.weight'),
    ('posmlp', 'S', 'small', 'levels.1.pool.conv.weight', 'norm.weight'),
    *[('stripmlp', variant, variant, 'merging1.weight', 'norm.weight')
      for variant in ('tiny_light', 'tiny', 'small', 'base')],
    # re-parameterised (deploy) weights load into deploy=True models
    ('repmlp', 'B224_deploy', 'b224', 'embeds.0.conv.weight', 'head_norm.weight'),
]


def manifest_path(official_keys_dir, model_name, variant):
    return osp.join(official_keys_dir, f'{model_name}_{variant}.json')


@pytest.mark.parametrize('model_name', FAMILY_NAMES)
def test_every_family_converts_without_the_repository_configs(official_keys_dir, tmp_path,
                                                             monkeypatch, model_name):
    """The converter of each family, through the command line's function, with the repository's
    configs out of reach (as in a non-editable install): the checkpoint loads strictly into the
    family's classifier."""
    monkeypatch.setattr('vmlp_mm.families.CONFIG_ROOT', str(tmp_path / 'no_configs'))
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save(state_dict_from_manifest(smallest_manifest(official_keys_dir, model_name)), src)
    meta = convert_file(model_name, str(src), str(dst))
    assert meta['config'] is None
    state_dict = torch.load(dst, weights_only=True)['state_dict']
    model = VisionMLPClassifier.of_family(get_family(model_name), meta['arch'],
                                          state_dict['head.fc.weight'].shape[0],
                                          **meta['backbone_overrides'])
    model.load_state_dict(state_dict, strict=True)


@pytest.mark.parametrize('model_name,variant,arch,downsample_key,final_norm_key', MANIFESTS)
def test_manifest_converts_and_loads_strictly(official_keys_dir, model_name, variant, arch,
                                              downsample_key, final_norm_key):
    official = state_dict_from_manifest(manifest_path(official_keys_dir, model_name, variant))
    converted, found, overrides = convert_official(model_name, official)
    assert found == arch
    # every official tensor is kept, except PosMLP's offset buffers (recomputed)
    assert len(converted) == len([k for k in official if not k.endswith('rel_indices')])
    model = build_config_classifier(get_family(model_name).classification_config(arch), 1000,
                                    **overrides)
    check_state_dict(converted, model)
    model.load_state_dict(converted, strict=True)
    # the official downsampler closing stage 0 opens our stage 1
    ours = {k: v for k, v in model.state_dict().items()
            if k.startswith('backbone.stages.1.downsample.') and k.endswith('.weight')}
    assert any(torch.equal(v, official[downsample_key]) for v in ours.values())
    torch.testing.assert_close(model.backbone.norm3.weight, official[final_norm_key])


def test_cli_roundtrip_and_wrapped_checkpoint(official_keys_dir, tmp_path, repo_root):
    official = state_dict_from_manifest(osp.join(official_keys_dir, 'msmlp_tiny.json'))
    src = tmp_path / 'official.pth'
    torch.save({'model': official, 'epoch': 299}, src)  # as the Swin codebase saves
    dst = tmp_path / 'converted.pth'
    subprocess.run([sys.executable, 'tools/model_converters/msmlp_to_vmlp.py', str(src), str(dst)],
                   cwd=repo_root, check=True, capture_output=True)
    checkpoint = torch.load(dst, weights_only=True)
    assert set(checkpoint) == {'state_dict', 'meta'}
    assert checkpoint['meta']['arch'] == 'tiny'
    model = tiny_msmlp_classifier()
    model.load_state_dict(checkpoint['state_dict'], strict=True)


def test_unknown_and_missing_keys_are_listed(official_keys_dir):
    official = state_dict_from_manifest(osp.join(official_keys_dir, 'msmlp_tiny.json'))
    official['layers.0.blocks.0.extra.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match='extra.weight'):
        convert_official('msmlp', official)
    del official['layers.0.blocks.0.extra.weight']
    del official['layers.2.blocks.3.pwconv1.weight']
    converted = convert_official('msmlp', official)[0]
    model = tiny_msmlp_classifier()
    with pytest.raises(CheckpointMismatchError,
                       match=r'missing 1: backbone.stages.2.blocks.3.pwconv1.weight'):
        check_state_dict(converted, model)


def test_posmlp_offsets_of_another_variant_are_an_error(official_keys_dir):
    official = state_dict_from_manifest(osp.join(official_keys_dir, 'posmlp_T.json'))
    official['levels.0.encoder.1.gate_unit.pos.rel_indices'][..., 1] *= -1  # other dy sign
    with pytest.raises(CheckpointMismatchError, match='differs from the GQPE offsets'):
        convert_official('posmlp', official)


def test_unknown_variant_is_an_error():
    official = {'patch_embed.proj.weight': torch.zeros(64, 3, 4, 4),
                'layers.0.blocks.0.gamma': torch.zeros(64)}
    with pytest.raises(CheckpointMismatchError, match='no MSMLP arch'):
        convert_official('msmlp', official)
    with pytest.raises(CheckpointMismatchError, match='not an ActiveMLP checkpoint'):
        convert_official('activemlp', official)


def test_activemlp_ema_checkpoint_keys_are_stripped(official_keys_dir, tmp_path, repo_root):
    official = state_dict_from_manifest(osp.join(official_keys_dir, 'activemlp_xT.json'))
    src = tmp_path / 'official.pth'
    # the official trainer saves {'model': ..., 'model_ema': ...}; DDP adds 'module.'
    torch.save({'model': {'module.' + k: v for k, v in official.items()}}, src)
    dst = tmp_path / 'converted.pth'
    subprocess.run([sys.executable, 'tools/model_converters/activemlp_to_vmlp.py', str(src),
                    str(dst)], cwd=repo_root, check=True, capture_output=True)
    assert torch.load(dst, weights_only=True)['meta']['arch'] == 'xtiny'


def test_repmlp_deploy_checkpoint_cli(official_keys_dir, tmp_path, repo_root):
    official = state_dict_from_manifest(osp.join(official_keys_dir,
                                                 'repmlp_B224_deploy.json'))
    src, dst = tmp_path / 'RepMLPNet-B224-deploy.pth', tmp_path / 'converted.pth'
    torch.save(official, src)  # the official convert.py saves a raw state dict
    result = subprocess.run([sys.executable, 'tools/model_converters/repmlp_to_vmlp.py', str(src),
                             str(dst)], cwd=repo_root, check=True, capture_output=True, text=True)
    assert 'with --cfg-options model.backbone.deploy=True' in result.stdout
    meta = torch.load(dst, weights_only=True)['meta']
    assert meta['arch'] == 'b224' and meta['backbone_overrides'] == {'deploy': True}


@pytest.mark.parametrize('model_name', quick_first(FAMILY_NAMES))
def test_openmmlab_loaders_take_the_authors_file(official_keys_dir, tmp_path, model_name,
                                                monkeypatch):
    """``init_cfg=dict(type='Pretrained', checkpoint=<authors' file>)`` of a dense backbone and
    the checkpoint of tools/test.py / ``load_from`` (StrictCheckpointHook) convert in memory, say
    so once, and hold the converter script's weights; another arch is a named error."""
    from mmengine.logging import MMLogger

    import vmlp_mm.backbones.base as base
    from vmlp_mm.engine import StrictCheckpointHook
    logged = []
    monkeypatch.setattr(base, 'print_log', lambda message, **_: logged.append(message))
    official = state_dict_from_manifest(smallest_manifest(official_keys_dir, model_name))
    converted, arch, overrides = convert_official(model_name, official)
    path = str(tmp_path / 'official.pth')
    torch.save({'model': official, 'epoch': 299}, path)
    family = get_family(model_name)
    backbone = family.backbone(arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False,
                               init_cfg=dict(type='Pretrained', checkpoint=path,
                                             prefix='backbone.'), **overrides)
    backbone.init_weights()
    state = backbone.state_dict()
    assert all(torch.equal(state[k[len('backbone.'):]], v.to(state[k[len('backbone.'):]].dtype))
               for k, v in converted.items() if k.startswith('backbone.'))
    assert sum('key layout: converted in memory' in m for m in logged) == 1

    classifier = VisionMLPClassifier.of_family(family, arch, **overrides)
    runner = type('Runner', (), dict(model=classifier, logger=MMLogger.get_current_instance()))
    checkpoint = torch.load(path, weights_only=False)
    StrictCheckpointHook().after_load_checkpoint(runner, checkpoint)
    assert checkpoint['state_dict'].keys() == converted.keys()
    for other in [a for a in family.archs if a != arch][:1]:
        with pytest.raises(CheckpointMismatchError, match=f'build the model with arch={arch!r}'):
            family.backbone(other, init_cfg=dict(type='Pretrained', checkpoint=path,
                                                 prefix='backbone.')).init_weights()


@pytest.mark.parametrize('model_name', FAMILY_NAMES)
def test_a_file_of_another_family_names_its_family_and_converter(official_keys_dir, model_name):
    other = FAMILY_NAMES[(FAMILY_NAMES.index(model_name) + 1) % len(FAMILY_NAMES)]
    official = state_dict_from_manifest(smallest_manifest(official_keys_dir, other))
    with pytest.raises(CheckpointMismatchError, match=(
            f'the checkpoint is an official {get_family(other).backbone.__name__} checkpoint, '
            f'not one of {get_family(model_name).backbone.__name__}: convert it with '
            f'tools/model_converters/{other}_to_vmlp.py')):
        get_family(model_name).convert(official)
