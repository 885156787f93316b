"""ONNX export of the backbones and models, and its check against PyTorch
(``tools/deploy/export_onnx.py`` is the command line).

The vmlp_mm ops (shift_mix, offset_sample, depthwise_conv2d) are exported through their
pure-PyTorch references, which decompose into standard ONNX operators, so any ONNX runtime runs
the file without a custom operator library.
"""
import logging

import torch

from .ops import reference_ops
from .utils.outputs import written_atomically


class BackboneOutputs(torch.nn.Module):
    """The backbone's outputs as a flat tuple (ONNX graph outputs)."""

    def __init__(self, backbone: torch.nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return tuple(self.backbone(x))


def export(module: torch.nn.Module, x: torch.Tensor, out: str, opset: int = 18) -> None:
    logging.getLogger('torch.onnx').setLevel(logging.ERROR)
    with reference_ops(), torch.no_grad():
        program = torch.onnx.export(module, (x, ), dynamo=True, opset_version=opset)
    with written_atomically(out) as partial:
        program.save(partial)


def check(module: torch.nn.Module, x: torch.Tensor, out: str) -> float:
    """Largest |onnxruntime - PyTorch| over the outputs, relative to the largest |output|."""
    import onnxruntime
    session = onnxruntime.InferenceSession(out, providers=['CPUExecutionProvider'])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = module(x)
    expected = expected if isinstance(expected, (tuple, list)) else (expected, )
    scale = max(float(e.abs().max()) for e in expected)
    return max(float((torch.from_numpy(g) - e).abs().max()) for g, e in zip(got, expected)) / scale
