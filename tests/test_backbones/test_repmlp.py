import pytest
import torch

from vmlp_mm.backbones import RepMLPNet
from vmlp_mm.backbones.repmlp import RepMLPBlock
from vmlp_mm.converters import CheckpointMismatchError
from vmlp_testing import quick_first, randomize_batchnorms

# parameters() with the official 1000-class head, training-time and deploy-time
# (../shared/reference/ARCH_activemlp_repmlp.md §2.2)
OFFICIAL_PARAMS = {'t224': (38_293_608, 38_331_720), 'b224': (68_242_712, 68_332_664),
                   't256': (58_687_848, 58_739_400), 'b256': (96_447_512, 96_568_184),
                   'd256': (86_887_648, 86_985_280), 'l256': (117_641_560, 117_820_600)}


def num_params(model):
    return sum(p.numel() for p in model.parameters()) + model.channels[-1] * 1000 + 1000


@pytest.mark.parametrize('arch', list(OFFICIAL_PARAMS))
def test_param_counts_equal_official_train_and_deploy(arch):
    model = RepMLPNet(arch)
    assert num_params(model) == OFFICIAL_PARAMS[arch][0]
    model.switch_to_deploy()
    assert num_params(model) == OFFICIAL_PARAMS[arch][1]
    assert num_params(RepMLPNet(arch, deploy=True)) == OFFICIAL_PARAMS[arch][1]


@pytest.mark.parametrize('arch', quick_first(OFFICIAL_PARAMS))
def test_switch_to_deploy_keeps_outputs_float64(arch):
    """Every arch at its pretraining size, in float64 (the official folding builds its identity
    in the default dtype and fails there). Folding only reorders sums of products, so float64
    agrees to rounding: |diff| <= 1e-9 on outputs of order 1-10."""
    torch.manual_seed(0)
    model = RepMLPNet(arch, out_indices=(0, 1, 2, 3)).double().eval()
    randomize_batchnorms(model)
    size = model.arch_settings['partition_sizes'][0] * 4
    x = torch.randn(1, 3, size, size, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)
        model.switch_to_deploy()
        after = model(x)
    assert all(m.fc3.bias.dtype == torch.float64 for m in model.modules()
               if isinstance(m, RepMLPBlock))
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('size', [(64, 64), (333, 517)])
def test_switch_to_deploy_keeps_outputs_float32(size):
    """In float32 the folded FC sums p^2 + k^2 products in another order than the three
    branches: differences of a few 1e-7 relative per block, accumulating over 8 blocks;
    1e-4 absolute on outputs of order 1 leaves a wide margin (measured ~1e-6)."""
    torch.manual_seed(0)
    model = RepMLPNet('nano', out_indices=(0, 1, 2, 3)).eval()
    randomize_batchnorms(model)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        before = model(x)
        model.switch_to_deploy()
        after = model(x)
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    deploy = RepMLPNet('nano', out_indices=(0, 1, 2, 3), deploy=True).eval()
    deploy.load_state_dict(model.state_dict(), strict=True)


def test_windows_are_independent():
    """Above the partition size every window is mixed by the FC on its own (the official
    reshape scrambles windows and channel groups there; at one window per map both agree)."""
    torch.manual_seed(0)
    block = RepMLPBlock(16, partition_size=4, sharesets=4).eval()
    randomize_batchnorms(block)
    block.gp.forward = lambda t: torch.ones(t.shape[0], 16, 1, 1)  # the gate is global
    x = torch.randn(2, 16, 8, 12)
    with torch.no_grad():
        out = block(x)
        for i in range(2):
            for j in range(3):
                window = (slice(None), slice(None), slice(4 * i, 4 * i + 4),
                          slice(4 * j, 4 * j + 4))
                torch.testing.assert_close(out[window], block(x[window]), rtol=0, atol=1e-6)
        # and samples stay apart (the official reshape mixes them for some batch sizes)
        torch.testing.assert_close(out[1:], block(x[1:]), rtol=0, atol=1e-6)


def test_padding_does_not_leak():
    """A map that is no multiple of the partition: each real pixel's output is the partition
    FC restricted to the real pixels of its window (padding zeros add nothing), the BN of its
    shareset and the gate from the mean over real pixels only."""
    torch.manual_seed(0)
    p, s, c, h, w = 4, 2, 6, 6, 7
    block = RepMLPBlock(c, partition_size=p, sharesets=s, conv_kernels=()).eval()
    randomize_batchnorms(block)
    x = torch.randn(1, c, h, w)
    with torch.no_grad():
        out = block(x)
        gate = block.gp(x)
        weight = block.fc3.weight.view(s, p * p, p * p)
        scale = block.fc3_bn.weight / (block.fc3_bn.running_var + block.fc3_bn.eps).sqrt()
        shift = block.fc3_bn.bias - block.fc3_bn.running_mean * scale
        expected = torch.empty_like(out)
        for top in range(0, h, p):
            for left in range(0, w, p):
                rows, cols = range(top, min(top + p, h)), range(left, min(left + p, w))
                # indices of the real pixels inside the p x p window
                idx = torch.tensor([(r - top) * p + (q - left) for r in rows for q in cols])
                for ch in range(c):
                    real = x[0, ch, rows.start:rows.stop, cols.start:cols.stop].reshape(-1)
                    mixed = weight[ch % s][idx][:, idx] @ real
                    mixed = mixed * scale[ch % s] + shift[ch % s]
                    expected[0, ch, rows.start:rows.stop, cols.start:cols.stop] = (
                        mixed.view(len(rows), len(cols)) * gate[0, ch])
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_training_statistics_come_from_real_pixels():
    """With identity FC matrices, fc3_bn's batch mean must be the mean of the real pixels of
    each shareset; counting the padding zeros would shrink it by the padded fraction."""
    block = RepMLPBlock(4, partition_size=4, sharesets=2, conv_kernels=()).train()
    with torch.no_grad():
        block.fc3.weight.copy_(torch.eye(16).repeat(2, 1).view(32, 16, 1, 1))
    block.fc3_bn.momentum = 1.0  # running mean = this batch's mean
    x = torch.rand(2, 4, 5, 6) + 1  # 5 x 6 map, padded to 8 x 8
    block(x)
    expected = x.view(2, 2, 2, 5, 6).permute(2, 0, 1, 3, 4).reshape(2, -1).mean(1)  # by c mod 2
    torch.testing.assert_close(block.fc3_bn.running_mean, expected)


def test_stride4_features_and_official_sizes():
    model = RepMLPNet('nano', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 333, 517))
    assert [tuple(o.shape[1:]) for o in outs] == [(32, 84, 130), (64, 42, 65), (128, 21, 33),
                                                   (256, 11, 17)]


def test_errors():
    with pytest.raises(ValueError, match='GlobalAveragePooling neck'):
        RepMLPNet('nano', gap_before_final_norm=True)
    with pytest.raises(ValueError, match='cannot be split into 3 sharesets'):
        RepMLPNet(dict(RepMLPNet.arch_zoo['nano'], sharesets=[1, 4, 8, 3]))


def test_pretrained_train_checkpoint_into_deploy_backbone_is_an_error(tmp_path):
    path = str(tmp_path / 'classifier.pth')
    trained = RepMLPNet('nano')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in trained.state_dict().items()}}, path)
    init_cfg = dict(type='Pretrained', checkpoint=path, prefix='backbone.')
    dense = RepMLPNet('nano', out_indices=(0, 1, 2, 3), init_cfg=init_cfg)
    dense.init_weights()  # the classifier has norm3 only: norm0-2 start fresh
    torch.testing.assert_close(dense.stages[2].blocks[1].token_mixer.fc3.weight,
                               trained.stages[2].blocks[1].token_mixer.fc3.weight)
    with pytest.raises(CheckpointMismatchError, match='set deploy=False, or convert it first'):
        RepMLPNet('nano', deploy=True, init_cfg=init_cfg).init_weights()
