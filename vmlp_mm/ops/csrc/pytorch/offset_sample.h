// Argument checks of the offset-sampling op, shared by its CPU and CUDA kernels.
#pragma once

#include <torch/types.h>

namespace vmlp_mm {

// Validates x [B, H, W, C], offset [B, H, W, C / S] and axis (1 = H, 2 = W); returns S.
int64_t check_offset_sample_args(const at::Tensor& x, const at::Tensor& offset, int64_t axis);

}  // namespace vmlp_mm
