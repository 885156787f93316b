"""Custom ops of vmlp_mm: compiled kernels (``vmlp_mm._ext``) with pure-PyTorch references."""
from .depthwise_conv import DepthwiseConv2d, depthwise_conv2d, depthwise_conv2d_reference
from .ext_loader import has_ext
from .kernel_op import KernelOp, reference_ops
from .offset_sample import offset_sample, offset_sample_reference
from .positional_mix import positional_mix, positional_mix_reference
from .shift_mix import ShiftMix, chunk_sizes, pack_depthwise, shift_mix, shift_mix_reference

#: op modules whose forward picks a kernel by device: leaves of fx graphs (the other ops trace as
#: their torch.ops calls)
FX_LEAVES = (DepthwiseConv2d, )

__all__ = ['FX_LEAVES', 'DepthwiseConv2d', 'depthwise_conv2d', 'depthwise_conv2d_reference',
           'has_ext', 'KernelOp', 'ShiftMix', 'chunk_sizes', 'offset_sample',
           'offset_sample_reference', 'pack_depthwise', 'positional_mix',
           'positional_mix_reference', 'reference_ops', 'shift_mix', 'shift_mix_reference']
