"""Small building blocks shared by the backbones."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels, for ``[N, C, H, W]`` maps as well as ``[N, C]`` vectors.

    One class for both keeps a backbone's output norms loadable whether it pools before the norm
    (classification) or normalises full maps (dense prediction). Maps keep the memory format
    they come in (channels-last stays channels-last).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels last for a map, unchanged for a vector: no branch on the shape (fx traces it)
        x = F.layer_norm(x.movedim(1, -1), self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.movedim(-1, 1)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad H and W at the bottom/right up to multiples of ``multiple`` (Swin's 'corner')."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (math.ceil(h / multiple) * multiple - h, math.ceil(w / multiple) * multiple - w)
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` conv followed by a channel LayerNorm (stem/downsampler).

    Inputs whose size is not a multiple of the patch size are zero-padded at the bottom/right, so
    the output is ``ceil(H / patch_size) x ceil(W / patch_size)`` and no pixel is dropped.
    """

    def __init__(self, in_channels: int, out_channels: int, patch_size: int, eps: float = 1e-6):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, out_channels, patch_size, stride=patch_size)
        self.norm = LayerNorm2d(out_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(pad_to_multiple(x, self.patch_size)))


class SparseDropout(nn.Dropout):
    """``nn.Dropout`` -- the same distribution: every element zeroed independently with
    probability ``p``, the others scaled by ``1 / (1 - p)`` -- that on CPU, for small ``p``,
    draws only where the dropped elements are: the gaps between them are geometric(p) draws,
    about ``p * numel`` random numbers instead of one per element.

    Why not ``nn.Dropout`` there: PyTorch's CPU dropout draws one number per element from its
    serial Mersenne-Twister generator, 2.9 ms for the 600 K elements of a PosMLP-T stage-3 block's
    output at batch 8, about 4% of the model's training step at its ``p = 0.023``; this takes
    0.5 ms. Elsewhere it is ``nn.Dropout``: on other devices (PyTorch's parallel generator), for
    ``p > 0.1`` (the saving shrinks with ``p``), in place, and inside ``torch.compile`` (the
    dropped positions have a data-dependent count).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not self.training or not 0 < self.p <= 0.1 or self.inplace or x.device.type != 'cpu'
                or torch.compiler.is_compiling()):
            return super().forward(x)
        return sparse_dropout(x, self.p)


def sparse_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """``F.dropout(x, p)`` drawn as the positions of the dropped elements (:class:`SparseDropout`),
    from PyTorch's default generator."""
    numel = x.numel()
    expected = numel * p
    draws = int(expected + 8 * math.sqrt(expected)) + 16
    # 1-based positions of the dropped elements: running sums of geometric(p) gaps
    positions = torch.empty(draws, dtype=torch.float64).geometric_(p).cumsum_(0)
    while positions[-1] <= numel:  # the draws stopped short of the end (rare): go on
        more = torch.empty(draws, dtype=torch.float64).geometric_(p).cumsum_(0)
        positions = torch.cat([positions, more.add_(positions[-1])])
    dropped = positions[positions <= numel].long().sub_(1)
    out = x.mul(1 / (1 - p)).contiguous()
    return out.view(-1).index_fill(0, dropped, 0).view_as(out)
