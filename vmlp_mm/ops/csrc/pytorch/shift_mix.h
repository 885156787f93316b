// Argument checks and the group table of the shift-mix op, shared by its CPU and CUDA kernels.
#pragma once

#include <torch/types.h>

#include "shift_mix_common.h"

namespace vmlp_mm {

// Validates the op's arguments and builds the group table (torch.chunk semantics).
ShiftMixGroups make_shift_mix_groups(const at::Tensor& x, const at::Tensor& weight_lr,
                                     const at::Tensor& weight_td, at::IntArrayRef shifts,
                                     at::IntArrayRef kernel_sizes);

}  // namespace vmlp_mm
