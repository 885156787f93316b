// CUDA kernels of the offset-sampling op (channels-last): one thread per element gathers its
// two taps (neighbouring threads read neighbouring channels); the input gradient scatters them
// back with atomics (offsets are arbitrary, so several outputs can hit one input), and the offset
// gradient reduces each group's S channels in one thread.
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../offset_sample.h"
#include "cuda_helpers.h"
#include "offset_sample_common.h"

namespace vmlp_mm {
namespace {

// x/grad index of channel 0 of the tap at position p along the axis, for pixel (b, h, w).
__device__ inline int64_t tap_index(int64_t b, int64_t h, int64_t w, int64_t p, int64_t H,
                                    int64_t W, int64_t C, bool along_w) {
  return along_w ? ((b * H + h) * W + p) * C : ((b * H + p) * W + w) * C;
}

template <typename scalar_t>
__global__ void offset_sample_forward_kernel(const scalar_t* __restrict__ x,
                                             const scalar_t* __restrict__ offset, scalar_t* out,
                                             int64_t n, int64_t H, int64_t W, int64_t C, int64_t S,
                                             bool along_w) {
  using acc_t = at::opmath_type<scalar_t>;
  VMLP_CUDA_1D_KERNEL_LOOP(idx, n) {
    const int64_t c = idx % C, pixel = idx / C;
    const int64_t w = pixel % W, h = (pixel / W) % H, b = pixel / (W * H);
    const LinearTaps<acc_t> t(static_cast<acc_t>(along_w ? w : h) +
                                  static_cast<acc_t>(offset[pixel * (C / S) + c / S]),
                              along_w ? W : H);
    acc_t v = 0;
    if (t.lo_valid) v += (1 - t.l) * static_cast<acc_t>(x[tap_index(b, h, w, t.p0, H, W, C, along_w) + c]);
    if (t.hi_valid) v += t.l * static_cast<acc_t>(x[tap_index(b, h, w, t.p0 + 1, H, W, C, along_w) + c]);
    out[idx] = static_cast<scalar_t>(v);
  }
}

template <typename scalar_t>
__global__ void offset_sample_grad_input_kernel(const scalar_t* __restrict__ grad_out,
                                                const scalar_t* __restrict__ offset,
                                                scalar_t* grad_x, int64_t n, int64_t H, int64_t W,
                                                int64_t C, int64_t S, bool along_w) {
  using acc_t = at::opmath_type<scalar_t>;
  VMLP_CUDA_1D_KERNEL_LOOP(idx, n) {
    const int64_t c = idx % C, pixel = idx / C;
    const int64_t w = pixel % W, h = (pixel / W) % H, b = pixel / (W * H);
    const LinearTaps<acc_t> t(static_cast<acc_t>(along_w ? w : h) +
                                  static_cast<acc_t>(offset[pixel * (C / S) + c / S]),
                              along_w ? W : H);
    const acc_t go = static_cast<acc_t>(grad_out[idx]);
    if (t.lo_valid)
      gpuAtomicAdd(grad_x + tap_index(b, h, w, t.p0, H, W, C, along_w) + c,
                   static_cast<scalar_t>((1 - t.l) * go));
    if (t.hi_valid)
      gpuAtomicAdd(grad_x + tap_index(b, h, w, t.p0 + 1, H, W, C, along_w) + c,
                   static_cast<scalar_t>(t.l * go));
  }
}

// One thread per (pixel, group): d loss / d delta = sum_c grad_out * (x[p0 + 1] - x[p0]).
template <typename scalar_t>
__global__ void offset_sample_grad_offset_kernel(const scalar_t* __restrict__ grad_out,
                                                 const scalar_t* __restrict__ x,
                                                 const scalar_t* __restrict__ offset,
                                                 scalar_t* grad_offset, int64_t n, int64_t H,
                                                 int64_t W, int64_t C, int64_t S, bool along_w) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t G = C / S;
  VMLP_CUDA_1D_KERNEL_LOOP(idx, n) {
    const int64_t g = idx % G, pixel = idx / G;
    const int64_t w = pixel % W, h = (pixel / W) % H, b = pixel / (W * H);
    const LinearTaps<acc_t> t(static_cast<acc_t>(along_w ? w : h) + static_cast<acc_t>(offset[idx]),
                              along_w ? W : H);
    const scalar_t* go = grad_out + pixel * C + g * S;
    acc_t slope = 0;
    if (t.lo_valid) {
      const scalar_t* lo = x + tap_index(b, h, w, t.p0, H, W, C, along_w) + g * S;
      for (int64_t c = 0; c < S; ++c) slope -= static_cast<acc_t>(go[c]) * static_cast<acc_t>(lo[c]);
    }
    if (t.hi_valid) {
      const scalar_t* hi = x + tap_index(b, h, w, t.p0 + 1, H, W, C, along_w) + g * S;
      for (int64_t c = 0; c < S; ++c) slope += static_cast<acc_t>(go[c]) * static_cast<acc_t>(hi[c]);
    }
    grad_offset[idx] = static_cast<scalar_t>(slope);
  }
}

at::Tensor offset_sample_forward_cuda(const at::Tensor& x, const at::Tensor& offset, int64_t axis) {
  const int64_t S = check_offset_sample_args(x, offset, axis);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor input = x.contiguous(), off = offset.contiguous();
  at::Tensor out = at::empty_like(input, at::MemoryFormat::Contiguous);
  const int64_t n = out.numel();
  if (n == 0) return out;
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "offset_sample_forward_cuda", [&] {
    offset_sample_forward_kernel<scalar_t><<<blocks_for(n), kThreads, 0, stream>>>(
        input.data_ptr<scalar_t>(), off.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), n,
        x.size(1), x.size(2), x.size(3), S, axis == 2);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

std::tuple<at::Tensor, at::Tensor> offset_sample_backward_cuda(const at::Tensor& grad_out,
                                                               const at::Tensor& x,
                                                               const at::Tensor& offset,
                                                               int64_t axis) {
  const int64_t S = check_offset_sample_args(x, offset, axis);
  TORCH_CHECK(grad_out.sizes() == x.sizes(), "offset_sample_backward: grad_out must have x's shape");
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor input = x.contiguous(), off = offset.contiguous(), gout = grad_out.contiguous();
  at::Tensor grad_x = at::zeros_like(input, at::MemoryFormat::Contiguous);
  at::Tensor grad_offset = at::zeros_like(off, at::MemoryFormat::Contiguous);
  const int64_t n = input.numel(), n_offset = off.numel();
  if (n == 0) return {grad_x, grad_offset};
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "offset_sample_backward_cuda", [&] {
    offset_sample_grad_input_kernel<scalar_t><<<blocks_for(n), kThreads, 0, stream>>>(
        gout.data_ptr<scalar_t>(), off.data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>(), n,
        x.size(1), x.size(2), x.size(3), S, axis == 2);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    offset_sample_grad_offset_kernel<scalar_t><<<blocks_for(n_offset), kThreads, 0, stream>>>(
        gout.data_ptr<scalar_t>(), input.data_ptr<scalar_t>(), off.data_ptr<scalar_t>(),
        grad_offset.data_ptr<scalar_t>(), n_offset, x.size(1), x.size(2), x.size(3), S,
        axis == 2);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_x, grad_offset};
}

}  // namespace

TORCH_LIBRARY_IMPL(vmlp_mm, CUDA, m) {
  m.impl("offset_sample", &offset_sample_forward_cuda);
  m.impl("offset_sample_backward", &offset_sample_backward_cuda);
}

}  // namespace vmlp_mm
