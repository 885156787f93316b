// CPU kernels of the depthwise convolution (stride 1, zero padding k // 2, no bias).
//
// The forward pass and the input gradient are ATen's (oneDNN's) depthwise forward convolution:
// the input gradient is the correlation of the output gradient with the flipped kernel, which
// oneDNN runs as a forward convolution 3x faster than its own backward-data path at 56x56.
// The weight gradient is ours: oneDNN's takes 2-4x longer for kernels 7 wide (Strip-MLP's 7x7
// and 3x7; docs/benchmarks.md). It works channels-last, as the shift-mix kernels: for every
// tap and block of contiguous channels, one register accumulator runs along an output row, and
// rows are split between threads.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../depthwise_conv.h"
#include "cpu_helpers.h"

namespace vmlp_mm {
namespace {

struct Shape {
  int64_t H, W, C;
  int kh, kw;
};

// Channels per register accumulator block.
constexpr int64_t kBlock = 16;

// One output-gradient row's (sample, row h) contribution to the taps-major [kh][kw][C] weight
// gradient: gw[i][j][c] += sum over w of gout[h][w][c] * x[h + i - ph][w + j - pw][c].
template <typename scalar_t>
VMLP_INLINE void grad_weight_row(const scalar_t* gout_row, const scalar_t* x, scalar_t* gw,
                                 int64_t h, Shape s) {
  const int64_t W = s.W, C = s.C;
  const int ph = s.kh / 2, pw = s.kw / 2;
  for (int i = 0; i < s.kh; ++i) {
    const int64_t hh = h + i - ph;
    if (hh < 0 || hh >= s.H) continue;
    const scalar_t* row = x + hh * W * C;
    for (int j = 0; j < s.kw; ++j) {
      const int64_t w_begin = std::max<int64_t>(0, pw - j), w_end = std::min<int64_t>(W, W + pw - j);
      scalar_t* dst = gw + (i * s.kw + j) * C;
      int64_t c0 = 0;
      for (; c0 + kBlock <= C; c0 += kBlock) {  // full blocks: a fixed-size accumulator
        scalar_t acc[kBlock] = {};
        for (int64_t w = w_begin; w < w_end; ++w) {
          const scalar_t* g = gout_row + w * C + c0;
          const scalar_t* v = row + (w + j - pw) * C + c0;
#pragma omp simd
          for (int64_t c = 0; c < kBlock; ++c) acc[c] += g[c] * v[c];
        }
#pragma omp simd
        for (int64_t c = 0; c < kBlock; ++c) dst[c0 + c] += acc[c];
      }
      for (int64_t w = w_begin; w < w_end && c0 < C; ++w) {  // the remaining channels
        const scalar_t* g = gout_row + w * C;
        const scalar_t* v = row + (w + j - pw) * C;
        for (int64_t c = c0; c < C; ++c) dst[c] += g[c] * v[c];
      }
    }
  }
}

#define VMLP_ROW_KERNEL(T)                                                                     \
  VMLP_MULTIVERSION void grad_weight_row_mv(const T* gout_row, const T* x, T* gw, int64_t h,   \
                                            Shape s) {                                         \
    grad_weight_row(gout_row, x, gw, h, s);                                                    \
  }
VMLP_ROW_KERNEL(float)
VMLP_ROW_KERNEL(double)
#undef VMLP_ROW_KERNEL

at::Tensor grad_weight_cpu(const at::Tensor& grad_out, const at::Tensor& x,
                           const at::Tensor& weight) {
  const auto kernel = check_depthwise_conv_args(x, weight);
  if (is_half_type(x)) {
    return grad_weight_cpu(grad_out.to(at::kFloat), x.to(at::kFloat), weight.to(at::kFloat))
        .to(x.scalar_type());
  }
  const Shape s{x.size(2), x.size(3), x.size(1), static_cast<int>(kernel.first),
                static_cast<int>(kernel.second)};
  const at::Tensor input = x.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor gout = grad_out.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor grad_weight = at::zeros_like(weight, at::MemoryFormat::Contiguous);
  if (input.numel() == 0) return grad_weight;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "depthwise_conv2d_grad_weight_cpu", [&] {
    // Each thread sums its rows in scalar_t per row, then in double across rows (they add up
    // B*H*W products); the threads' sums are added at the end.
    const int64_t n = s.C * s.kh * s.kw, rows = x.size(0) * s.H, plane = s.H * s.W * s.C;
    const scalar_t* xp = input.data_ptr<scalar_t>();
    const scalar_t* gp = gout.data_ptr<scalar_t>();
    std::vector<std::vector<double>> sums(at::get_num_threads(), std::vector<double>(n, 0.));
    at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
      std::vector<double>& sum = sums[at::get_thread_num()];
      std::vector<scalar_t> row(n);
      for (int64_t r = begin; r < end; ++r) {
        std::fill(row.begin(), row.end(), scalar_t(0));
        grad_weight_row_mv(gp + r * s.W * s.C, xp + (r / s.H) * plane, row.data(), r % s.H, s);
        for (int64_t t = 0; t < n; ++t) sum[t] += row[t];
      }
    });
    // taps-major [kh][kw][C] back to [C][1][kh][kw]
    scalar_t* gw = grad_weight.data_ptr<scalar_t>();
    const int64_t kk = s.kh * s.kw;
    for (int64_t c = 0; c < s.C; ++c) {
      for (int64_t t = 0; t < kk; ++t) {
        double total = 0.;
        for (const auto& sum : sums) total += sum[t * s.C + c];
        gw[c * kk + t] = static_cast<scalar_t>(total);
      }
    }
  });
  return grad_weight;
}

at::Tensor depthwise_conv2d_forward_cpu(const at::Tensor& x, const at::Tensor& weight) {
  const auto kernel = check_depthwise_conv_args(x, weight);
  return depthwise_correlate(x, weight, kernel);
}

std::tuple<at::Tensor, at::Tensor> depthwise_conv2d_backward_cpu(const at::Tensor& grad_out,
                                                                 const at::Tensor& x,
                                                                 const at::Tensor& weight) {
  const auto kernel = check_depthwise_conv_args(x, weight);
  TORCH_CHECK(grad_out.sizes() == x.sizes(),
              "depthwise_conv2d_backward: grad_out must have x's shape");
  return {depthwise_correlate(grad_out, weight.flip({2, 3}), kernel),
          grad_weight_cpu(grad_out, x, weight)};
}

}  // namespace

TORCH_LIBRARY_IMPL(vmlp_mm, CPU, m) {
  m.impl("depthwise_conv2d", &depthwise_conv2d_forward_cpu);
  m.impl("depthwise_conv2d_backward", &depthwise_conv2d_backward_cpu);
}

}  // namespace vmlp_mm
