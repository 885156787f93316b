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
