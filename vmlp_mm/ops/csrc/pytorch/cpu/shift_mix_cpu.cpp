// CPU kernels of the shift-mix op, channels-last: every output pixel gathers its taps for a
// whole channel group at once (a group shares its shift and kernel size), so the innermost loop
// runs over contiguous channels and vectorises whatever the map size -- MS-MLP's late stages are
// only 14x14 and 7x7, too short for loops along W. Work is split over (sample, row) pairs. The
// row kernels are compiled for AVX-512, AVX2 and baseline x86-64 (function multiversioning) and
// the best one is picked when the library loads.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../shift_mix.h"
#include "cpu_helpers.h"

namespace vmlp_mm {
namespace {

// Sizes of the maps of one call, and per group g the column tables of the W-roll:
// source[g * W + w] = (w - s_g) mod W, target[g * W + w] = (w + s_g) mod W (no modulo in the
// inner loops).
struct Shape {
  int64_t H, W, C;
  const int64_t* source;
  const int64_t* target;
};

struct RollTables {
  std::vector<int64_t> source, target;
  RollTables(const ShiftMixGroups& groups, int64_t W) : source(groups.num_groups * W),
                                                        target(groups.num_groups * W) {
    for (int g = 0; g < groups.num_groups; ++g) {
      for (int64_t w = 0; w < W; ++w) {
        source[g * W + w] = cyclic_index(w - groups.shift[g], W);
        target[g * W + w] = cyclic_index(w + groups.shift[g], W);
      }
    }
  }
};

// Per-group weights transposed to [k][k][C_g] (same offsets as the packed [C_g][k][k] layout),
// so that a tap's weights for a whole group are contiguous; `flip` reverses the taps (the input
// gradient correlates with the flipped kernel).
template <typename scalar_t>
std::vector<scalar_t> taps_major(const at::Tensor& packed_weights, const ShiftMixGroups& groups,
                                 int64_t channels, bool flip = false) {
  const at::Tensor contiguous = packed_weights.contiguous();
  const scalar_t* packed = contiguous.data_ptr<scalar_t>();
  std::vector<scalar_t> out(contiguous.numel());
  for (int g = 0; g < groups.num_groups; ++g) {
    const int64_t c0 = static_cast<int64_t>(g) * groups.chunk;
    const int64_t cg = std::min<int64_t>(groups.chunk, channels - c0);
    const int kk = groups.kernel[g] * groups.kernel[g];
    const int64_t off = groups.weight_offset[g];
    for (int64_t c = 0; c < cg; ++c)
      for (int t = 0; t < kk; ++t)
        out[off + t * cg + c] = packed[off + c * kk + (flip ? kk - 1 - t : t)];
  }
  return out;
}

// out[c] += a[c] * x[c] + b[c] * y[c]
template <typename scalar_t>
VMLP_INLINE void fma2(scalar_t* __restrict__ out, const scalar_t* __restrict__ a,
                      const scalar_t* __restrict__ x, const scalar_t* __restrict__ b,
                      const scalar_t* __restrict__ y, int64_t n) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) out[c] += a[c] * x[c] + b[c] * y[c];
}

// out[c] += a[c] * x[c]
template <typename scalar_t>
VMLP_INLINE void fma1(scalar_t* __restrict__ out, const scalar_t* __restrict__ a,
                      const scalar_t* __restrict__ x, int64_t n) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) out[c] += a[c] * x[c];
}

// One output row (sample b, row h) of the forward pass: bias, then for every group the taps of
// the W-rolled branch (lr) and the H-rolled branch (td), read from the zero-padded rolled planes
// without materialising them.
template <typename scalar_t>
VMLP_INLINE void forward_row(const scalar_t* x, const scalar_t* wlr, const scalar_t* wtd,
                             const scalar_t* bias, scalar_t* out, int64_t h, Shape s,
                             const ShiftMixGroups& groups) {
  const int64_t W = s.W, C = s.C;
  for (int64_t w = 0; w < W; ++w) std::copy(bias, bias + C, out + w * C);
  for (int g = 0; g < groups.num_groups; ++g) {
    const int64_t c0 = static_cast<int64_t>(g) * groups.chunk;
    const int64_t cg = std::min<int64_t>(groups.chunk, C - c0);
    const int k = groups.kernel[g], p = k / 2, shift = groups.shift[g];
    const int64_t* source = s.source + g * W;
    for (int i = 0; i < k; ++i) {
      const int64_t hh = h + i - p;  // row of the rolled, zero-padded plane
      if (hh < 0 || hh >= s.H) continue;
      const scalar_t* lr_row = x + hh * W * C + c0;
      const scalar_t* td_row = x + cyclic_index(hh - shift, s.H) * W * C + c0;
      for (int j = 0; j < k; ++j) {
        const scalar_t* a = wlr + groups.weight_offset[g] + (i * k + j) * cg;
        const scalar_t* b = wtd + groups.weight_offset[g] + (i * k + j) * cg;
        const int64_t w_begin = std::max<int64_t>(0, p - j), w_end = std::min<int64_t>(W, W + p - j);
        for (int64_t w = w_begin; w < w_end; ++w) {
          const int64_t ww = w + j - p;
          fma2(out + w * C + c0, a, lr_row + source[ww] * C, b, td_row + ww * C, cg);
        }
      }
    }
  }
}

// One row of the input gradient: the transposed gathers. x[h][w] sits at (h, w + s) of the
// W-rolled plane and at (h + s, w) of the H-rolled one; wlr/wtd hold the flipped taps.
template <typename scalar_t>
VMLP_INLINE void grad_input_row(const scalar_t* gout, const scalar_t* wlr, const scalar_t* wtd,
                                scalar_t* gx, int64_t h, Shape s, const ShiftMixGroups& groups) {
  const int64_t H = s.H, W = s.W, C = s.C;
  std::fill(gx, gx + W * C, scalar_t(0));
  for (int g = 0; g < groups.num_groups; ++g) {
    const int64_t c0 = static_cast<int64_t>(g) * groups.chunk;
    const int64_t cg = std::min<int64_t>(groups.chunk, C - c0);
    const int k = groups.kernel[g], p = k / 2, shift = groups.shift[g];
    const int64_t* target = s.target + g * W;
    const int64_t h_rolled = cyclic_index(h + shift, H);
    for (int i = 0; i < k; ++i) {
      // flipped tap (i, j) pairs input offset +(i - p) with the gradient row/column
      const int64_t lr_h = h + i - p, td_h = h_rolled + i - p;
      const bool lr_ok = lr_h >= 0 && lr_h < H, td_ok = td_h >= 0 && td_h < H;
      for (int j = 0; j < k; ++j) {
        const scalar_t* a = wlr + groups.weight_offset[g] + (i * k + j) * cg;
        const scalar_t* b = wtd + groups.weight_offset[g] + (i * k + j) * cg;
        for (int64_t w = 0; w < W; ++w) {
          scalar_t* dst = gx + w * C + c0;
          const int64_t lr_w = target[w] + j - p, td_w = w + j - p;
          if (lr_ok && lr_w >= 0 && lr_w < W) fma1(dst, a, gout + (lr_h * W + lr_w) * C + c0, cg);
          if (td_ok && td_w >= 0 && td_w < W) fma1(dst, b, gout + (td_h * W + td_w) * C + c0, cg);
        }
      }
    }
  }
}

// One gradient row's contribution to the weight gradients (taps-major layout, both branches).
template <typename scalar_t>
VMLP_INLINE void grad_weight_row(const scalar_t* gout_row, const scalar_t* x, scalar_t* glr,
                                 scalar_t* gtd, int64_t h, Shape s, const ShiftMixGroups& groups) {
  const int64_t W = s.W, C = s.C;
  for (int g = 0; g < groups.num_groups; ++g) {
    const int64_t c0 = static_cast<int64_t>(g) * groups.chunk;
    const int64_t cg = std::min<int64_t>(groups.chunk, C - c0);
    const int k = groups.kernel[g], p = k / 2, shift = groups.shift[g];
    const int64_t* source = s.source + g * W;
    for (int i = 0; i < k; ++i) {
      const int64_t hh = h + i - p;
      if (hh < 0 || hh >= s.H) continue;
      const scalar_t* lr_row = x + hh * W * C + c0;
      const scalar_t* td_row = x + cyclic_index(hh - shift, s.H) * W * C + c0;
      for (int j = 0; j < k; ++j) {
        scalar_t* a = glr + groups.weight_offset[g] + (i * k + j) * cg;
        scalar_t* b = gtd + groups.weight_offset[g] + (i * k + j) * cg;
        const int64_t w_begin = std::max<int64_t>(0, p - j), w_end = std::min<int64_t>(W, W + p - j);
        for (int64_t w = w_begin; w < w_end; ++w) {
          const int64_t ww = w + j - p;
          const scalar_t* go = gout_row + w * C + c0;
          fma1(a, go, lr_row + source[ww] * C, cg);
          fma1(b, go, td_row + ww * C, cg);
        }
      }
    }
  }
}

// Multiversioned entry points (float and double).
#define VMLP_ROW_KERNELS(T)                                                                  \
  VMLP_MULTIVERSION void forward_row_mv(const T* x, const T* wlr, const T* wtd, const T* bias, \
                                        T* out, int64_t h, Shape s, const ShiftMixGroups& g) { \
    forward_row(x, wlr, wtd, bias, out, h, s, g);                                            \
  }                                                                                          \
  VMLP_MULTIVERSION void grad_input_row_mv(const T* gout, const T* wlr, const T* wtd, T* gx,   \
                                           int64_t h, Shape s, const ShiftMixGroups& g) {     \
    grad_input_row(gout, wlr, wtd, gx, h, s, g);                                             \
  }                                                                                          \
  VMLP_MULTIVERSION void grad_weight_row_mv(const T* gout_row, const T* x, T* glr, T* gtd,     \
                                            int64_t h, Shape s, const ShiftMixGroups& g) {    \
    grad_weight_row(gout_row, x, glr, gtd, h, s, g);                                         \
  }
VMLP_ROW_KERNELS(float)
VMLP_ROW_KERNELS(double)
#undef VMLP_ROW_KERNELS

at::Tensor shift_mix_forward_cpu(const at::Tensor& x, const at::Tensor& weight_lr,
                                 const at::Tensor& bias_lr, const at::Tensor& weight_td,
                                 const at::Tensor& bias_td, at::IntArrayRef shifts,
                                 at::IntArrayRef kernel_sizes) {
  const ShiftMixGroups groups = make_shift_mix_groups(x, weight_lr, weight_td, shifts, kernel_sizes);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(bias_lr.numel() == C && bias_td.numel() == C, "shift_mix: biases need ", C,
              " values, got ", bias_lr.numel(), " and ", bias_td.numel());
  if (is_half_type(x)) {
    return shift_mix_forward_cpu(x.to(at::kFloat), weight_lr.to(at::kFloat),
                                 bias_lr.to(at::kFloat), weight_td.to(at::kFloat),
                                 bias_td.to(at::kFloat), shifts, kernel_sizes)
        .to(x.scalar_type());
  }
  const at::Tensor input = x.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor out = at::empty_like(input, at::MemoryFormat::ChannelsLast);
  if (out.numel() == 0) return out;
  const at::Tensor bias = (bias_lr + bias_td).contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "shift_mix_forward_cpu", [&] {
    const auto wlr = taps_major<scalar_t>(weight_lr, groups, C);
    const auto wtd = taps_major<scalar_t>(weight_td, groups, C);
    const scalar_t* xp = input.data_ptr<scalar_t>();
    const scalar_t* bp = bias.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    const RollTables tables(groups, W);
    const Shape s{H, W, C, tables.source.data(), tables.target.data()};
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / H;
        forward_row_mv(xp + b * H * W * C, wlr.data(), wtd.data(), bp, op + r * W * C, r % H, s,
                       groups);
      }
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> shift_mix_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight_lr,
    const at::Tensor& weight_td, at::IntArrayRef shifts, at::IntArrayRef kernel_sizes) {
  const ShiftMixGroups groups = make_shift_mix_groups(x, weight_lr, weight_td, shifts, kernel_sizes);
  TORCH_CHECK(grad_out.sizes() == x.sizes(), "shift_mix_backward: grad_out must have x's shape");
  if (is_half_type(x)) {
    auto grads = shift_mix_backward_cpu(grad_out.to(at::kFloat), x.to(at::kFloat),
                                        weight_lr.to(at::kFloat), weight_td.to(at::kFloat),
                                        shifts, kernel_sizes);
    const auto dtype = x.scalar_type();
    return {std::get<0>(grads).to(dtype), std::get<1>(grads).to(dtype),
            std::get<2>(grads).to(dtype)};
  }
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const at::Tensor input = x.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor gout = grad_out.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor grad_x = at::empty_like(input, at::MemoryFormat::ChannelsLast);
  at::Tensor grad_wlr = at::zeros_like(weight_lr), grad_wtd = at::zeros_like(weight_td);
  if (input.numel() == 0) return {grad_x, grad_wlr, grad_wtd};
  const int64_t n = weight_lr.numel();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "shift_mix_backward_cpu", [&] {
    // the input gradient correlates with the flipped taps
    const auto flr = taps_major<scalar_t>(weight_lr, groups, C, /*flip=*/true);
    const auto ftd = taps_major<scalar_t>(weight_td, groups, C, /*flip=*/true);
    const scalar_t* xp = input.data_ptr<scalar_t>();
    const scalar_t* gp = gout.data_ptr<scalar_t>();
    scalar_t* gxp = grad_x.data_ptr<scalar_t>();
    const RollTables tables(groups, W);
    const Shape s{H, W, C, tables.source.data(), tables.target.data()};
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / H;
        grad_input_row_mv(gp + b * H * W * C, flr.data(), ftd.data(), gxp + r * W * C, r % H, s,
                          groups);
      }
    });

    // Weight gradients: each thread sums its rows in scalar_t per row, then in double across
    // rows (they add up B*H*W products); the threads' sums are added at the end.
    const int num_threads = at::get_num_threads();
    std::vector<std::vector<double>> sums(num_threads, std::vector<double>(2 * n, 0.));
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      std::vector<double>& sum = sums[at::get_thread_num()];
      std::vector<scalar_t> row(2 * n);
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / H;
        std::fill(row.begin(), row.end(), scalar_t(0));
        grad_weight_row_mv(gp + r * W * C, xp + b * H * W * C, row.data(), row.data() + n, r % H,
                           s, groups);
        for (int64_t t = 0; t < 2 * n; ++t) sum[t] += row[t];
      }
    });
    std::vector<double> total(2 * n, 0.);
    for (const auto& sum : sums)
      for (int64_t t = 0; t < 2 * n; ++t) total[t] += sum[t];
    // taps-major back to the packed [C_g][k][k] layout
    scalar_t *glr = grad_wlr.data_ptr<scalar_t>(), *gtd = grad_wtd.data_ptr<scalar_t>();
    for (int g = 0; g < groups.num_groups; ++g) {
      const int64_t c0 = static_cast<int64_t>(g) * groups.chunk;
      const int64_t cg = std::min<int64_t>(groups.chunk, C - c0);
      const int kk = groups.kernel[g] * groups.kernel[g];
      const int64_t off = groups.weight_offset[g];
      for (int64_t c = 0; c < cg; ++c) {
        for (int t = 0; t < kk; ++t) {
          glr[off + c * kk + t] = static_cast<scalar_t>(total[off + t * cg + c]);
          gtd[off + c * kk + t] = static_cast<scalar_t>(total[n + off + t * cg + c]);
        }
      }
    }
  });
  return {grad_x, grad_wlr, grad_wtd};
}

}  // namespace

TORCH_LIBRARY_IMPL(vmlp_mm, CPU, m) {
  m.impl("shift_mix", &shift_mix_forward_cpu);
  m.impl("shift_mix_backward", &shift_mix_backward_cpu);
}

}  // namespace vmlp_mm
