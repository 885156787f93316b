// Shared by the CUDA kernels (as mmcv's common_cuda_helper.hpp): the launch shape of the
// elementwise kernels, which loop grid-stride so that any n runs on a bounded grid.
#pragma once

#include <algorithm>
#include <cstdint>

namespace vmlp_mm {

constexpr int kThreads = 256;
// 65535 * 8 blocks of 256 threads keep an H200 busy; larger n loop inside the kernel.
constexpr int64_t kMaxBlocks = 65535 * 8;

inline int blocks_for(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

#ifdef __CUDACC__
// The sum of every thread's `value` over a block of kThreads threads, valid in thread 0 (the
// weight-gradient kernels reduce one weight per block). Every thread of the block must call it.
template <typename T>
__device__ T block_sum(T value) {
  __shared__ T partial[kThreads];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  return partial[0];
}
#endif

}  // namespace vmlp_mm

// for (i = this thread's first element; i < n; i += all threads)
#define VMLP_CUDA_1D_KERNEL_LOOP(i, n)                                                   \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
