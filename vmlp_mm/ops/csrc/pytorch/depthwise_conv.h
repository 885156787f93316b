// Argument checks of the depthwise-convolution op, shared by its CPU and CUDA kernels.
#pragma once

#include <torch/types.h>

namespace vmlp_mm {

// Validates x [B, C, H, W] and weight [C, 1, kh, kw] (odd kh and kw); returns {kh, kw}.
std::pair<int64_t, int64_t> check_depthwise_conv_args(const at::Tensor& x,
                                                      const at::Tensor& weight);

// x [B, C, H, W] correlated with weight [C, 1, kh, kw] per channel, zero padding k // 2: ATen's
// depthwise convolution (oneDNN / cuDNN) on x made channels-last; returns a channels-last tensor.
at::Tensor depthwise_correlate(const at::Tensor& x, const at::Tensor& weight,
                               std::pair<int64_t, int64_t> kernel);

}  // namespace vmlp_mm
