// CPU kernels of the offset-sampling op (channels-last). The forward pass and the offset
// gradient work pixel by pixel; the input gradient scatters along the sampled axis, so the work
// is split so that no two threads write the same line: rows (b, h) when sampling along W,
// columns (b, w) when sampling along H. The per-line loops are compiled for AVX-512, AVX2 and
// baseline x86-64 (function multiversioning): beyond wider vectors, the newer targets turn
// floor() into one instruction instead of a libm call per (pixel, offset group).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "../offset_sample.h"
#include "cpu_helpers.h"
#include "offset_sample_common.h"

namespace vmlp_mm {
namespace {

struct Sizes {
  int64_t B, H, W, C, S;
};

// Element (b, ., ., 0) of the tap at position `p` along the axis, for pixel (b, h, w).
VMLP_INLINE int64_t tap_index(const Sizes& n, int64_t b, int64_t h, int64_t w, int64_t p, bool along_w) {
  return along_w ? ((b * n.H + h) * n.W + p) * n.C : ((b * n.H + p) * n.W + w) * n.C;
}

// kS > 0: the channels per offset known at compile time (fully unrolled inner loops for
// ActiveMLP's S = 2, 4, 8); kS == 0: any n.S.
template <int kS, typename scalar_t>
VMLP_INLINE void forward_pixel(const scalar_t* x, const scalar_t* offset, scalar_t* out,
                               const Sizes& n, int64_t b, int64_t h, int64_t w, bool along_w) {
  const int64_t S = kS > 0 ? kS : n.S;
  const int64_t pixel = (b * n.H + h) * n.W + w;
  const int64_t G = n.C / S;
  for (int64_t g = 0; g < G; ++g) {
    const LinearTaps<scalar_t> t(static_cast<scalar_t>(along_w ? w : h) + offset[pixel * G + g],
                                 along_w ? n.W : n.H);
    scalar_t* o = out + pixel * n.C + g * S;
    // element offsets only: a tap outside the map is never turned into a pointer
    const int64_t lo = tap_index(n, b, h, w, t.p0, along_w) + g * S;
    const int64_t hi = lo + (along_w ? n.C : n.W * n.C);  // the next position along the axis
    if (t.lo_valid && t.hi_valid) {
      for (int64_t c = 0; c < S; ++c) o[c] = (1 - t.l) * x[lo + c] + t.l * x[hi + c];
    } else if (t.lo_valid) {
      for (int64_t c = 0; c < S; ++c) o[c] = (1 - t.l) * x[lo + c];
    } else if (t.hi_valid) {
      for (int64_t c = 0; c < S; ++c) o[c] = t.l * x[hi + c];
    } else {
      for (int64_t c = 0; c < S; ++c) o[c] = 0;
    }
  }
}

template <int kS, typename scalar_t>
VMLP_INLINE void backward_pixel(const scalar_t* gout, const scalar_t* x, const scalar_t* offset,
                                scalar_t* grad_x, scalar_t* grad_offset, const Sizes& n,
                                int64_t b, int64_t h, int64_t w, bool along_w) {
  const int64_t S = kS > 0 ? kS : n.S;
  const int64_t pixel = (b * n.H + h) * n.W + w;
  const int64_t G = n.C / S;
  for (int64_t g = 0; g < G; ++g) {
    const LinearTaps<scalar_t> t(static_cast<scalar_t>(along_w ? w : h) + offset[pixel * G + g],
                                 along_w ? n.W : n.H);
    const scalar_t* go = gout + pixel * n.C + g * S;
    scalar_t slope = 0;  // d out / d delta = x[p0 + 1] - x[p0], zeros outside
    if (t.lo_valid) {
      const int64_t i = tap_index(n, b, h, w, t.p0, along_w) + g * S;
      for (int64_t c = 0; c < S; ++c) {
        grad_x[i + c] += (1 - t.l) * go[c];
        slope -= go[c] * x[i + c];
      }
    }
    if (t.hi_valid) {
      const int64_t i = tap_index(n, b, h, w, t.p0 + 1, along_w) + g * S;
      for (int64_t c = 0; c < S; ++c) {
        grad_x[i + c] += t.l * go[c];
        slope += go[c] * x[i + c];
      }
    }
    grad_offset[pixel * G + g] = slope;
  }
}

// Row r = (b, h) of the forward pass.
template <typename scalar_t>
VMLP_INLINE void forward_row(const scalar_t* x, const scalar_t* offset, scalar_t* out,
                             const Sizes& n, int64_t r, bool along_w) {
  const int64_t b = r / n.H, h = r % n.H;
  switch (n.S) {
    case 2:
      for (int64_t w = 0; w < n.W; ++w) forward_pixel<2>(x, offset, out, n, b, h, w, along_w);
      break;
    case 4:
      for (int64_t w = 0; w < n.W; ++w) forward_pixel<4>(x, offset, out, n, b, h, w, along_w);
      break;
    case 8:
      for (int64_t w = 0; w < n.W; ++w) forward_pixel<8>(x, offset, out, n, b, h, w, along_w);
      break;
    default:
      for (int64_t w = 0; w < n.W; ++w) forward_pixel<0>(x, offset, out, n, b, h, w, along_w);
  }
}

template <int kS, typename scalar_t>
VMLP_INLINE void backward_line_s(const scalar_t* gout, const scalar_t* x, const scalar_t* offset,
                                 scalar_t* grad_x, scalar_t* grad_offset, const Sizes& n,
                                 int64_t r, bool along_w) {
  if (along_w) {
    for (int64_t w = 0; w < n.W; ++w)
      backward_pixel<kS>(gout, x, offset, grad_x, grad_offset, n, r / n.H, r % n.H, w, true);
  } else {
    for (int64_t h = 0; h < n.H; ++h)
      backward_pixel<kS>(gout, x, offset, grad_x, grad_offset, n, r / n.W, h, r % n.W, false);
  }
}

// Line r of the backward pass: row (b, h) when sampling along W, column (b, w) along H.
template <typename scalar_t>
VMLP_INLINE void backward_line(const scalar_t* gout, const scalar_t* x, const scalar_t* offset,
                               scalar_t* grad_x, scalar_t* grad_offset, const Sizes& n, int64_t r,
                               bool along_w) {
  switch (n.S) {
    case 2: return backward_line_s<2>(gout, x, offset, grad_x, grad_offset, n, r, along_w);
    case 4: return backward_line_s<4>(gout, x, offset, grad_x, grad_offset, n, r, along_w);
    case 8: return backward_line_s<8>(gout, x, offset, grad_x, grad_offset, n, r, along_w);
    default: return backward_line_s<0>(gout, x, offset, grad_x, grad_offset, n, r, along_w);
  }
}

#define VMLP_LINE_KERNELS(T)                                                                   \
  VMLP_MULTIVERSION void forward_row_mv(const T* x, const T* offset, T* out, const Sizes& n,    \
                                        int64_t r, bool along_w) {                            \
    forward_row(x, offset, out, n, r, along_w);                                                \
  }                                                                                            \
  VMLP_MULTIVERSION void backward_line_mv(const T* gout, const T* x, const T* offset,           \
                                          T* grad_x, T* grad_offset, const Sizes& n, int64_t r, \
                                          bool along_w) {                                      \
    backward_line(gout, x, offset, grad_x, grad_offset, n, r, along_w);                        \
  }
VMLP_LINE_KERNELS(float)
VMLP_LINE_KERNELS(double)
#undef VMLP_LINE_KERNELS

at::Tensor offset_sample_forward_cpu(const at::Tensor& x, const at::Tensor& offset, int64_t axis) {
  const int64_t S = check_offset_sample_args(x, offset, axis);
  if (is_half_type(x)) {
    return offset_sample_forward_cpu(x.to(at::kFloat), offset.to(at::kFloat), axis)
        .to(x.scalar_type());
  }
  const at::Tensor input = x.contiguous(), off = offset.contiguous();
  at::Tensor out = at::empty_like(input, at::MemoryFormat::Contiguous);
  if (out.numel() == 0) return out;
  const Sizes n{x.size(0), x.size(1), x.size(2), x.size(3), S};
  const bool along_w = axis == 2;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "offset_sample_forward_cpu", [&] {
    const scalar_t *xp = input.data_ptr<scalar_t>(), *op = off.data_ptr<scalar_t>();
    scalar_t* outp = out.data_ptr<scalar_t>();
    at::parallel_for(0, n.B * n.H, 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) forward_row_mv(xp, op, outp, n, r, along_w);
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> offset_sample_backward_cpu(const at::Tensor& grad_out,
                                                              const at::Tensor& x,
                                                              const at::Tensor& offset,
                                                              int64_t axis) {
  const int64_t S = check_offset_sample_args(x, offset, axis);
  TORCH_CHECK(grad_out.sizes() == x.sizes(), "offset_sample_backward: grad_out must have x's shape");
  if (is_half_type(x)) {
    auto grads = offset_sample_backward_cpu(grad_out.to(at::kFloat), x.to(at::kFloat),
                                            offset.to(at::kFloat), axis);
    return {std::get<0>(grads).to(x.scalar_type()), std::get<1>(grads).to(x.scalar_type())};
  }
  const at::Tensor input = x.contiguous(), off = offset.contiguous(), gout = grad_out.contiguous();
  at::Tensor grad_x = at::zeros_like(input, at::MemoryFormat::Contiguous);
  at::Tensor grad_offset = at::empty_like(off, at::MemoryFormat::Contiguous);
  if (input.numel() == 0) return {grad_x, grad_offset.zero_()};
  const Sizes n{x.size(0), x.size(1), x.size(2), x.size(3), S};
  const bool along_w = axis == 2;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "offset_sample_backward_cpu", [&] {
    const scalar_t *xp = input.data_ptr<scalar_t>(), *op = off.data_ptr<scalar_t>();
    const scalar_t* gp = gout.data_ptr<scalar_t>();
    scalar_t *gxp = grad_x.data_ptr<scalar_t>(), *gop = grad_offset.data_ptr<scalar_t>();
    // one line along the sampled axis per task: its scatter stays inside that line
    const int64_t lines = along_w ? n.B * n.H : n.B * n.W;
    at::parallel_for(0, lines, 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) backward_line_mv(gp, xp, op, gxp, gop, n, r, along_w);
    });
  });
  return {grad_x, grad_offset};
}

}  // namespace

TORCH_LIBRARY_IMPL(vmlp_mm, CPU, m) {
  m.impl("offset_sample", &offset_sample_forward_cpu);
  m.impl("offset_sample_backward", &offset_sample_backward_cpu);
}

}  // namespace vmlp_mm
