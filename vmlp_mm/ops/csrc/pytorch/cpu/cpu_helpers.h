// Shared by the CPU kernels.
#pragma once

#include <ATen/core/Tensor.h>

namespace vmlp_mm {

// float16 and bfloat16 run through the float32 kernels (converted on the way in and out): the
// arithmetic is then float32 throughout, as the CUDA kernels' opmath_type accumulation, and
// CPUs without native half arithmetic would convert every element anyway.
inline bool is_half_type(const at::Tensor& x) {
  return x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
}

}  // namespace vmlp_mm
