// CUDA kernels of the positional-mixing op: the two per-tile kernels of the driver
// (positional_mix.cpp), one block per target row (group g, target m), its threads striding over
// the N sources. The GEMMs around them are cuBLAS's (tensor cores in the input dtype).
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../positional_mix.h"
#include "cuda_helpers.h"
#include "positional_mix_common.h"

namespace vmlp_mm {
namespace {

// probs[row, n] = softmax_n score(m, n) for row = g * targets + (m - m0).
template <typename T>
__global__ void fill_probs_kernel(const T* __restrict__ coefficients, T* __restrict__ probs,
                                  int64_t targets, int64_t rows, int64_t cols, int64_t m0) {
  const int64_t row = blockIdx.x, N = rows * cols;
  const int64_t g = row / targets, m = m0 + row % targets;
  const int64_t target_row = m / cols, target_col = m % cols;
  const T* c = coefficients + g * kPositionalFeatures;
  T* p = probs + row * N;
  T max = -INFINITY;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    const int64_t r = n / cols;
    const T score = SourceRowScore<T>(c, static_cast<T>(target_row - r))(
        static_cast<T>(n - r * cols - target_col));
    p[n] = score;
    max = score > max ? score : max;
  }
  max = block_reduce(max, MaxOp());
  T sum = 0;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    const T e = exp(p[n] - max);
    p[n] = e;
    sum += e;
  }
  const T inv = T(1) / block_sum(sum);
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) p[n] *= inv;
}

// partial[row, 0..4] = sum_n dS[n] f(m, n), dS = P (dP - sum_n P dP), features dx, dy, dx^2,
// dy^2, dx dy.
template <typename T>
__global__ void coefficient_grads_kernel(const T* __restrict__ probs,
                                         const T* __restrict__ grad_probs, T* __restrict__ partial,
                                         int64_t targets, int64_t rows, int64_t cols, int64_t m0) {
  const int64_t row = blockIdx.x, N = rows * cols;
  const int64_t m = m0 + row % targets;
  const int64_t target_row = m / cols, target_col = m % cols;
  const T* p = probs + row * N;
  const T* dp = grad_probs + row * N;
  T dot = 0;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) dot += p[n] * dp[n];
  dot = block_sum(dot);
  T g[kPositionalFeatures] = {0, 0, 0, 0, 0};
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    const int64_t r = n / cols;
    const T dx = static_cast<T>(n - r * cols - target_col), dy = static_cast<T>(target_row - r);
    const T ds = p[n] * (dp[n] - dot);
    g[0] += ds * dx;
    g[1] += ds * dy;
    g[2] += ds * dx * dx;
    g[3] += ds * dy * dy;
    g[4] += ds * dx * dy;
  }
  for (int k = 0; k < kPositionalFeatures; ++k) {
    const T total = block_sum(g[k]);
    if (threadIdx.x == 0) partial[row * kPositionalFeatures + k] = total;
  }
}

void fill_probs_cuda(const at::Tensor& coefficients, int64_t rows, int64_t cols, int64_t m0,
                     at::Tensor& probs) {
  const int64_t blocks = probs.size(0) * probs.size(1);
  AT_DISPATCH_FLOATING_TYPES(probs.scalar_type(), "positional_mix_fill_probs_cuda", [&] {
    fill_probs_kernel<scalar_t><<<blocks, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        coefficients.data_ptr<scalar_t>(), probs.data_ptr<scalar_t>(), probs.size(1), rows, cols,
        m0);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void coefficient_grads_cuda(const at::Tensor& probs, const at::Tensor& grad_probs, int64_t rows,
                            int64_t cols, int64_t m0, at::Tensor& partial) {
  const int64_t blocks = probs.size(0) * probs.size(1);
  AT_DISPATCH_FLOATING_TYPES(probs.scalar_type(), "positional_mix_coefficient_grads_cuda", [&] {
    coefficient_grads_kernel<scalar_t><<<blocks, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        probs.data_ptr<scalar_t>(), grad_probs.data_ptr<scalar_t>(), partial.data_ptr<scalar_t>(),
        probs.size(1), rows, cols, m0);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

constexpr PositionalMixKernels kCudaKernels{&fill_probs_cuda, &coefficient_grads_cuda};

at::Tensor positional_mix_cuda(const at::Tensor& x, const at::Tensor& coefficients, int64_t rows,
                               int64_t cols) {
  const c10::cuda::CUDAGuard guard(x.device());
  return positional_mix_forward(x, coefficients, rows, cols, kCudaKernels);
}

std::tuple<at::Tensor, at::Tensor> positional_mix_backward_cuda(const at::Tensor& grad_out,
                                                                const at::Tensor& x,
                                                                const at::Tensor& coefficients,
                                                                int64_t rows, int64_t cols) {
  const c10::cuda::CUDAGuard guard(x.device());
  return positional_mix_backward(grad_out, x, coefficients, rows, cols, kCudaKernels);
}

}  // namespace

TORCH_LIBRARY_IMPL(vmlp_mm, CUDA, m) {
  m.impl("positional_mix", &positional_mix_cuda);
  m.impl("positional_mix_backward", &positional_mix_backward_cuda);
}

}  // namespace vmlp_mm
