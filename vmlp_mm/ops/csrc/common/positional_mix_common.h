// Shared by the CPU and CUDA kernels of PosMLP's positional-mixing op.
//
// In a rows x cols window (token t = row * cols + col), group g's score of source n for target m
// is a quadratic in their relative offset, with the official signs dx = col(n) - col(m) and
// dy = row(m) - row(n):
//   score = c0 dx + c1 dy + c2 dx^2 + c3 dy^2 + c4 dx dy,   c = coefficients[g][0..4].
// The mixing weights are softmax_n(score); the op never stores them beyond one tile of targets.
#pragma once

#include <cstdint>

#include "vmlp_common.h"

namespace vmlp_mm {

constexpr int kPositionalFeatures = 5;

// Score of every source in one source row (fixed dy) is  base + dx * (slope + c2 * dx).
template <typename T>
struct SourceRowScore {
  T base, slope, c2;

  VMLP_HOST_DEVICE SourceRowScore(const T* c, T dy)
      : base(c[1] * dy + c[3] * dy * dy), slope(c[0] + c[4] * dy), c2(c[2]) {}

  VMLP_HOST_DEVICE T operator()(T dx) const { return base + dx * (slope + c2 * dx); }
};

}  // namespace vmlp_mm
