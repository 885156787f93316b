// CPU kernels of the offset-sampling op (channels-last). The forward pass and the offset
// gradient work pixel by pixel; the input gradient scatters along the sampled axis, so the work
// is split so that no two threads write the same line: rows (b, h) when sampling along W,
// columns (b, w) when sampling along H.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "../offset_sample.h"
#include "offset_sample_common.h"

namespace vmlp_mm {
namespace {

struct Sizes {
  int64_t B, H, W, C, S;
};

// Element (b, ., ., 0) of the tap at position `p` along the axis, for pixel (b, h, w).
inline int64_t tap_index(const Sizes& n, int64_t b, int64_t h, int64_t w, int64_t p, bool along_w) {
  return along_w ? ((b * n.H + h) * n.W + p) * n.C : ((b * n.H + p) * n.W + w) * n.C;
}

template <typename scalar_t>
void forward_pixel(const scalar_t* x, const scalar_t* offset, scalar_t* out, const Sizes& n,
                   int64_t b, int64_t h, int64_t w, bool along_w) {
  const int64_t pixel = (b * n.H + h) * n.W + w;
  const int64_t G = n.C / n.S;
  for (int64_t g = 0; g < G; ++g) {
    const LinearTaps<scalar_t> t(static_cast<scalar_t>(along_w ? w : h) + offset[pixel * G + g],
                                 along_w ? n.W : n.H);
    scalar_t* o = out + pixel * n.C + g * n.S;
    std::fill(o, o + n.S, scalar_t(0));
    if (t.lo_valid) {
      const scalar_t* lo = x + tap_index(n, b, h, w, t.p0, along_w) + g * n.S;
      for (int64_t c = 0; c < n.S; ++c) o[c] += (1 - t.l) * lo[c];
    }
    if (t.hi_valid) {
      const scalar_t* hi = x + tap_index(n, b, h, w, t.p0 + 1, along_w) + g * n.S;
      for (int64_t c = 0; c < n.S; ++c) o[c] += t.l * hi[c];
    }
  }
}

template <typename scalar_t>
void backward_pixel(const scalar_t* gout, const scalar_t* x, const scalar_t* offset,
                    scalar_t* grad_x, scalar_t* grad_offset, const Sizes& n, int64_t b,
                    int64_t h, int64_t w, bool along_w) {
  const int64_t pixel = (b * n.H + h) * n.W + w;
  const int64_t G = n.C / n.S;
  for (int64_t g = 0; g < G; ++g) {
    const LinearTaps<scalar_t> t(static_cast<scalar_t>(along_w ? w : h) + offset[pixel * G + g],
                                 along_w ? n.W : n.H);
    const scalar_t* go = gout + pixel * n.C + g * n.S;
    scalar_t slope = 0;  // d out / d delta = x[p0 + 1] - x[p0], zeros outside
    if (t.lo_valid) {
      const int64_t i = tap_index(n, b, h, w, t.p0, along_w) + g * n.S;
      for (int64_t c = 0; c < n.S; ++c) {
        grad_x[i + c] += (1 - t.l) * go[c];
        slope -= go[c] * x[i + c];
      }
    }
    if (t.hi_valid) {
      const int64_t i = tap_index(n, b, h, w, t.p0 + 1, along_w) + g * n.S;
      for (int64_t c = 0; c < n.S; ++c) {
        grad_x[i + c] += t.l * go[c];
        slope += go[c] * x[i + c];
      }
    }
    grad_offset[pixel * G + g] = slope;
  }
}

at::Tensor offset_sample_forward_cpu(const at::Tensor& x, const at::Tensor& offset, int64_t axis) {
  const int64_t S = check_offset_sample_args(x, offset, axis);
  const at::Tensor input = x.contiguous(), off = offset.contiguous();
  at::Tensor out = at::empty_like(input, at::MemoryFormat::Contiguous);
  if (out.numel() == 0) return out;
  const Sizes n{x.size(0), x.size(1), x.size(2), x.size(3), S};
  const bool along_w = axis == 2;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "offset_sample_forward_cpu", [&] {
    const scalar_t *xp = input.data_ptr<scalar_t>(), *op = off.data_ptr<scalar_t>();
    scalar_t* outp = out.data_ptr<scalar_t>();
    at::parallel_for(0, n.B * n.H, 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        for (int64_t w = 0; w < n.W; ++w)
          forward_pixel(xp, op, outp, n, r / n.H, r % n.H, w, along_w);
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
      for (int64_t r = begin; r < end; ++r) {
        if (along_w) {
          for (int64_t w = 0; w < n.W; ++w)
            backward_pixel(gp, xp, op, gxp, gop, n, r / n.H, r % n.H, w, true);
        } else {
          for (int64_t h = 0; h < n.H; ++h)
            backward_pixel(gp, xp, op, gxp, gop, n, r / n.W, h, r % n.W, false);
        }
      }
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
