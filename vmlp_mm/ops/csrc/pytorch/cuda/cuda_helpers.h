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
// `op` over every thread's `value` in a block of kThreads threads, returned to every thread.
// Every thread of the block must call it; calls may follow each other (the shared array is only
// written again once every thread has read the result).
template <typename T, typename Op>
__device__ T block_reduce(T value, Op op) {
  __shared__ T partial[kThreads];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      partial[threadIdx.x] = op(partial[threadIdx.x], partial[threadIdx.x + stride]);
    }
    __syncthreads();
  }
  const T result = partial[0];
  __syncthreads();
  return result;
}

struct SumOp {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a + b; }
};

struct MaxOp {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a > b ? a : b; }
};

// The sum of every thread's `value` over the block (the weight-gradient kernels reduce one
// weight per block).
template <typename T>
__device__ T block_sum(T value) {
  return block_reduce(value, SumOp());
}
#endif

}  // namespace vmlp_mm

// for (i = this thread's first element; i < n; i += all threads)
#define VMLP_CUDA_1D_KERNEL_LOOP(i, n)                                                   \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
