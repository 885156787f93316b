// PosMLP's positional mixing: argument checks and the device-independent driver that tiles the
// targets, shared by the CPU and CUDA kernels (which fill and reduce one tile at a time).
#pragma once

#include <torch/types.h>

#include <tuple>

namespace vmlp_mm {

// The two device kernels of the op; both work on one tile of the weights: some groups, their
// targets m0 .. m0 + probs.size(1) and all N sources.
struct PositionalMixKernels {
  // probs [groups, targets, N] = softmax_n score_g(m0 + i, n) for the tile's groups, whose
  // [groups, 5] coefficients are given; in the coefficients' dtype.
  void (*fill_probs)(const at::Tensor& coefficients, int64_t rows, int64_t cols, int64_t m0,
                     at::Tensor& probs);
  // partial [groups, targets, 5] = sum_n dS[g, i, n] * feature_k(m0 + i, n): the coefficients'
  // gradient from target m0 + i, with dS = P * (dP - sum_n P * dP) the softmax backward of the
  // scores.
  void (*coefficient_grads)(const at::Tensor& probs, const at::Tensor& grad_probs, int64_t rows,
                            int64_t cols, int64_t m0, at::Tensor& partial);
};

at::Tensor positional_mix_forward(const at::Tensor& x, const at::Tensor& coefficients,
                                  int64_t rows, int64_t cols, const PositionalMixKernels& kernels);

std::tuple<at::Tensor, at::Tensor> positional_mix_backward(const at::Tensor& grad_out,
                                                           const at::Tensor& x,
                                                           const at::Tensor& coefficients,
                                                           int64_t rows, int64_t cols,
                                                           const PositionalMixKernels& kernels);

}  // namespace vmlp_mm
