// CUDA kernels of the depthwise convolution (stride 1, zero padding k // 2, no bias), as the CPU
// ones: the forward pass and the input gradient are ATen's (cuDNN's) depthwise forward
// convolution, the input gradient with the flipped kernel; the weight gradient is ours on
// channels-last maps, one block reducing each (channel, tap) over the batch and the map, with
// neighbouring threads reading neighbouring positions of one channel.
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../depthwise_conv.h"
#include "cuda_helpers.h"

namespace vmlp_mm {
namespace {

// Block (c, tap): grad_weight[c][tap] = sum over b, h, w of grad_out * shifted x.
template <typename scalar_t>
__global__ void depthwise_grad_weight_kernel(const scalar_t* __restrict__ grad_out,
                                             const scalar_t* __restrict__ x,
                                             scalar_t* grad_weight, int64_t B, int64_t C,
                                             int64_t H, int64_t W, int kh, int kw) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t c = blockIdx.x;
  const int tap = blockIdx.y, i = tap / kw, j = tap % kw;
  const int64_t hw = H * W;
  acc_t acc = 0;
  for (int64_t e = threadIdx.x; e < B * hw; e += blockDim.x) {
    const int64_t b = e / hw, h = (e / W) % H, w = e % W;
    const int64_t hh = h + i - kh / 2, ww = w + j - kw / 2;
    if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
    acc += static_cast<acc_t>(grad_out[e * C + c]) *
           static_cast<acc_t>(x[(b * hw + hh * W + ww) * C + c]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) grad_weight[c * kh * kw + tap] = static_cast<scalar_t>(acc);
}

at::Tensor depthwise_conv2d_forward_cuda(const at::Tensor& x, const at::Tensor& weight) {
  const auto kernel = check_depthwise_conv_args(x, weight);
  const c10::cuda::CUDAGuard guard(x.device());
  return depthwise_correlate(x, weight, kernel);
}

std::tuple<at::Tensor, at::Tensor> depthwise_conv2d_backward_cuda(const at::Tensor& grad_out,
                                                                  const at::Tensor& x,
                                                                  const at::Tensor& weight) {
  const auto kernel = check_depthwise_conv_args(x, weight);
  TORCH_CHECK(grad_out.sizes() == x.sizes(),
              "depthwise_conv2d_backward: grad_out must have x's shape");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int kh = static_cast<int>(kernel.first), kw = static_cast<int>(kernel.second);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor input = x.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor gout = grad_out.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor grad_x = depthwise_correlate(gout, weight.flip({2, 3}), kernel);
  at::Tensor grad_weight = at::zeros_like(weight, at::MemoryFormat::Contiguous);
  if (input.numel() == 0) return {grad_x, grad_weight};
  const dim3 grid(static_cast<unsigned>(C), static_cast<unsigned>(kh * kw));
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "depthwise_conv2d_grad_weight_cuda", [&] {
    depthwise_grad_weight_kernel<scalar_t><<<grid, kThreads, 0, stream>>>(
        gout.data_ptr<scalar_t>(), input.data_ptr<scalar_t>(), grad_weight.data_ptr<scalar_t>(),
        B, C, H, W, kh, kw);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad_x, grad_weight};
}

}  // namespace

TORCH_LIBRARY_IMPL(vmlp_mm, CUDA, m) {
  m.impl("depthwise_conv2d", &depthwise_conv2d_forward_cuda);
  m.impl("depthwise_conv2d_backward", &depthwise_conv2d_backward_cuda);
}

}  // namespace vmlp_mm
