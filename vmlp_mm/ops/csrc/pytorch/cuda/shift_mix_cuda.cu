// CUDA kernels of the shift-mix op on channels-last maps (as the CPU kernels: the op returns
// channels-last tensors on every device). One thread per output (forward) or input (backward)
// element gathers its taps directly, so neither the rolled planes nor the padding are
// materialised, and neighbouring threads read neighbouring channels (coalesced). The weight
// gradient reduces each (channel, tap, branch) over the batch and the map in one block.
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../shift_mix.h"
#include "cuda_helpers.h"

namespace vmlp_mm {
namespace {

template <typename scalar_t>
__global__ void shift_mix_forward_kernel(const scalar_t* __restrict__ x,
                                         const scalar_t* __restrict__ weight_lr,
                                         const scalar_t* __restrict__ bias_lr,
                                         const scalar_t* __restrict__ weight_td,
                                         const scalar_t* __restrict__ bias_td, scalar_t* out,
                                         int64_t n, int64_t C, int64_t H, int64_t W,
                                         ShiftMixGroups groups) {
  using acc_t = at::opmath_type<scalar_t>;
  VMLP_CUDA_1D_KERNEL_LOOP(idx, n) {
    const int64_t c = idx % C, w = (idx / C) % W, h = (idx / (C * W)) % H;
    const scalar_t* image = x + (idx / (C * W * H)) * H * W * C + c;  // [H][W] at stride C
    const int g = groups.group_of(c);
    const int k = groups.kernel[g], p = k / 2, s = groups.shift[g];
    const scalar_t* wlr = weight_lr + groups.weight_offset_of(c, g);
    const scalar_t* wtd = weight_td + groups.weight_offset_of(c, g);
    acc_t acc = static_cast<acc_t>(bias_lr[c]) + static_cast<acc_t>(bias_td[c]);
    for (int i = 0; i < k; ++i) {
      const int64_t hh = h + i - p;  // row of the rolled, zero-padded plane
      if (hh < 0 || hh >= H) continue;
      const int64_t td_row = cyclic_index(hh - s, H) * W;
      for (int j = 0; j < k; ++j) {
        const int64_t ww = w + j - p;
        if (ww < 0 || ww >= W) continue;
        acc += static_cast<acc_t>(wlr[i * k + j]) *
               static_cast<acc_t>(image[(hh * W + cyclic_index(ww - s, W)) * C]);
        acc += static_cast<acc_t>(wtd[i * k + j]) * static_cast<acc_t>(image[(td_row + ww) * C]);
      }
    }
    out[idx] = static_cast<scalar_t>(acc);
  }
}

template <typename scalar_t>
__global__ void shift_mix_grad_input_kernel(const scalar_t* __restrict__ grad_out,
                                            const scalar_t* __restrict__ weight_lr,
                                            const scalar_t* __restrict__ weight_td,
                                            scalar_t* grad_x, int64_t n, int64_t C, int64_t H,
                                            int64_t W, ShiftMixGroups groups) {
  using acc_t = at::opmath_type<scalar_t>;
  VMLP_CUDA_1D_KERNEL_LOOP(idx, n) {
    const int64_t c = idx % C, w = (idx / C) % W, h = (idx / (C * W)) % H;
    const scalar_t* gimage = grad_out + (idx / (C * W * H)) * H * W * C + c;
    const int g = groups.group_of(c);
    const int k = groups.kernel[g], p = k / 2, s = groups.shift[g];
    const scalar_t* wlr = weight_lr + groups.weight_offset_of(c, g);
    const scalar_t* wtd = weight_td + groups.weight_offset_of(c, g);
    // x[h][w] sits at (h, w + s) of the W-rolled plane and at (h + s, w) of the H-rolled one.
    const int64_t w_rolled = cyclic_index(w + s, W), h_rolled = cyclic_index(h + s, H);
    acc_t acc = 0;
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j < k; ++j) {
        const int64_t lr_h = h - i + p, lr_w = w_rolled - j + p;
        if (lr_h >= 0 && lr_h < H && lr_w >= 0 && lr_w < W)
          acc += static_cast<acc_t>(wlr[i * k + j]) * static_cast<acc_t>(gimage[(lr_h * W + lr_w) * C]);
        const int64_t td_h = h_rolled - i + p, td_w = w - j + p;
        if (td_h >= 0 && td_h < H && td_w >= 0 && td_w < W)
          acc += static_cast<acc_t>(wtd[i * k + j]) * static_cast<acc_t>(gimage[(td_h * W + td_w) * C]);
      }
    }
    grad_x[idx] = static_cast<scalar_t>(acc);
  }
}

// Block (c, tap, branch): dW[c][tap] = sum over b, h, w of grad_out * rolled-and-padded x.
template <typename scalar_t>
__global__ void shift_mix_grad_weight_kernel(const scalar_t* __restrict__ grad_out,
                                             const scalar_t* __restrict__ x,
                                             scalar_t* grad_weight_lr, scalar_t* grad_weight_td,
                                             int64_t B, int64_t C, int64_t H, int64_t W,
                                             ShiftMixGroups groups) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t c = blockIdx.x;
  const int tap = blockIdx.y;
  const bool along_w = blockIdx.z == 0;
  const int g = groups.group_of(c);
  const int k = groups.kernel[g], p = k / 2, s = groups.shift[g];
  if (tap >= k * k) return;  // uniform over the block
  const int i = tap / k, j = tap % k;
  acc_t acc = 0;
  const int64_t hw = H * W;
  for (int64_t e = threadIdx.x; e < B * hw; e += blockDim.x) {
    const int64_t b = e / hw, h = (e / W) % H, w = e % W;
    const int64_t hh = h + i - p, ww = w + j - p;
    if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
    const int64_t src = along_w ? hh * W + cyclic_index(ww - s, W) : cyclic_index(hh - s, H) * W + ww;
    acc += static_cast<acc_t>(grad_out[e * C + c]) * static_cast<acc_t>(x[(b * hw + src) * C + c]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) {
    scalar_t* gw = (along_w ? grad_weight_lr : grad_weight_td) + groups.weight_offset_of(c, g);
    gw[tap] = static_cast<scalar_t>(acc);
  }
}

int max_kernel(const ShiftMixGroups& groups) {
  int k = 1;
  for (int g = 0; g < groups.num_groups; ++g) k = std::max(k, groups.kernel[g]);
  return k;
}

at::Tensor shift_mix_forward_cuda(const at::Tensor& x, const at::Tensor& weight_lr,
                                  const at::Tensor& bias_lr, const at::Tensor& weight_td,
                                  const at::Tensor& bias_td, at::IntArrayRef shifts,
                                  at::IntArrayRef kernel_sizes) {
  const ShiftMixGroups groups = make_shift_mix_groups(x, weight_lr, weight_td, shifts, kernel_sizes);
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(bias_lr.numel() == C && bias_td.numel() == C, "shift_mix: biases need ", C,
              " values, got ", bias_lr.numel(), " and ", bias_td.numel());
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor input = x.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor wlr = weight_lr.contiguous(), wtd = weight_td.contiguous();
  const at::Tensor blr = bias_lr.contiguous(), btd = bias_td.contiguous();
  at::Tensor out = at::empty_like(input, at::MemoryFormat::ChannelsLast);
  const int64_t n = out.numel();
  if (n == 0) return out;
  const int blocks = blocks_for(n);
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "shift_mix_forward_cuda", [&] {
    shift_mix_forward_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
        input.data_ptr<scalar_t>(), wlr.data_ptr<scalar_t>(), blr.data_ptr<scalar_t>(),
        wtd.data_ptr<scalar_t>(), btd.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), n, C, H, W,
        groups);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> shift_mix_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight_lr,
    const at::Tensor& weight_td, at::IntArrayRef shifts, at::IntArrayRef kernel_sizes) {
  const ShiftMixGroups groups = make_shift_mix_groups(x, weight_lr, weight_td, shifts, kernel_sizes);
  TORCH_CHECK(grad_out.sizes() == x.sizes(), "shift_mix_backward: grad_out must have x's shape");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor input = x.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor gout = grad_out.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor wlr = weight_lr.contiguous(), wtd = weight_td.contiguous();
  at::Tensor grad_x = at::empty_like(input, at::MemoryFormat::ChannelsLast);
  at::Tensor grad_wlr = at::zeros_like(wlr), grad_wtd = at::zeros_like(wtd);
  const int64_t n = input.numel();
  if (n == 0) return {grad_x, grad_wlr, grad_wtd};
  const int blocks = blocks_for(n);
  const int kmax = max_kernel(groups);
  const dim3 weight_grid(static_cast<unsigned>(C), static_cast<unsigned>(kmax * kmax), 2);
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "shift_mix_backward_cuda", [&] {
    shift_mix_grad_input_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
        gout.data_ptr<scalar_t>(), wlr.data_ptr<scalar_t>(), wtd.data_ptr<scalar_t>(),
        grad_x.data_ptr<scalar_t>(), n, C, H, W, groups);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    shift_mix_grad_weight_kernel<scalar_t><<<weight_grid, kThreads, 0, stream>>>(
        gout.data_ptr<scalar_t>(), input.data_ptr<scalar_t>(), grad_wlr.data_ptr<scalar_t>(),
        grad_wtd.data_ptr<scalar_t>(), B, C, H, W, groups);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_x, grad_wlr, grad_wtd};
}

}  // namespace

TORCH_LIBRARY_IMPL(vmlp_mm, CUDA, m) {
  m.impl("shift_mix", &shift_mix_forward_cuda);
  m.impl("shift_mix_backward", &shift_mix_backward_cuda);
}

}  // namespace vmlp_mm
