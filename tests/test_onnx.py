"""ONNX export of every backbone (the ops through their reference decomposition), checked with
onnxruntime against PyTorch (with the compiled kernels where built)."""
import pytest
import torch

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

from vmlp_mm.deploy import BackboneOutputs, check, export  # noqa: E402
from vmlp_testing import BACKBONES, by_name, quick_first  # noqa: E402


@pytest.mark.parametrize('cls', quick_first(BACKBONES, ids=map(by_name, BACKBONES)))
def test_backbone_exports_and_matches(tmp_path, cls):
    torch.manual_seed(0)
    backbone = cls('nano', out_indices=(0, 1, 2, 3), gap_before_final_norm=False).eval()
    module = BackboneOutputs(backbone)
    x = torch.randn(1, 3, 72, 88)  # padded inside every windowed backbone
    out = str(tmp_path / 'backbone.onnx')
    export(module, x, out)
    assert check(module, x, out) < 1e-4
