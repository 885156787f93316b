"""ONNX export of every backbone (the ops through their reference decomposition), checked with
onnxruntime against PyTorch (with the compiled kernels where built)."""
import importlib.util
import os.path as osp

import pytest
import torch

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

from vmlp_mm.backbones import MSMLP, ActiveMLP, PosMLP, RepMLPNet, StripMLP  # noqa: E402


def export_tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'export_onnx', osp.join(repo_root, 'tools', 'deploy', 'export_onnx.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('cls', [MSMLP, ActiveMLP, PosMLP, StripMLP, RepMLPNet])
def test_backbone_exports_and_matches(repo_root, tmp_path, cls):
    tool = export_tool(repo_root)
    torch.manual_seed(0)
    backbone = cls('nano', out_indices=(0, 1, 2, 3), gap_before_final_norm=False).eval()
    module = tool.BackboneOutputs(backbone)
    x = torch.randn(1, 3, 72, 88)  # padded inside every windowed backbone
    out = str(tmp_path / 'backbone.onnx')
    tool.export(module, x, out)
    assert tool.check(module, x, out) < 1e-4
