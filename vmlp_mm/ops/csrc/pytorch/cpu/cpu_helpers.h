// Shared by the CPU kernels.
#pragma once

#include <ATen/core/Tensor.h>

// The per-row loops are compiled for AVX-512, AVX2 and baseline x86-64 (GCC's function
// multiversioning picks one when the library loads); other compilers and CPUs get one build.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VMLP_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VMLP_MULTIVERSION
#endif
// Helpers of the multiversioned loops: inlined, so that each clone gets its own copy.
#define VMLP_INLINE inline __attribute__((always_inline))

namespace vmlp_mm {

// float16 and bfloat16 run through the float32 kernels (converted on the way in and out): the
// arithmetic is then float32 throughout, as the CUDA kernels' opmath_type accumulation, and
// CPUs without native half arithmetic would convert every element anyway.
inline bool is_half_type(const at::Tensor& x) {
  return x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
}

}  // namespace vmlp_mm
