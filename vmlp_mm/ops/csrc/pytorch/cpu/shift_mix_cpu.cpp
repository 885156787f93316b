// CPU kernels of the shift-mix op. Each (sample, channel) plane is independent: it is rolled
// into a zero-bordered scratch plane once per branch, and the depthwise k x k correlation then
// runs over contiguous rows (the inner loops are the multiversioned row kernels below, so the
// same binary uses AVX2/AVX-512 where the machine has them).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../shift_mix.h"

namespace vmlp_mm {
namespace {

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VMLP_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VMLP_MULTIVERSION
#endif

// dst[i] += a * src[i]
VMLP_MULTIVERSION void axpy(float* __restrict__ dst, const float* __restrict__ src, float a,
                            int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += a * src[i];
}
VMLP_MULTIVERSION void axpy(double* __restrict__ dst, const double* __restrict__ src, double a,
                            int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += a * src[i];
}
VMLP_MULTIVERSION float dot(const float* __restrict__ a, const float* __restrict__ b, int64_t n) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}
VMLP_MULTIVERSION double dot(const double* __restrict__ a, const double* __restrict__ b,
                             int64_t n) {
  double sum = 0.;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// buf <- the plane rolled by `shift` (along W or H), with a zero border of p on every side.
template <typename scalar_t>
void roll_into_padded(const scalar_t* plane, int64_t H, int64_t W, int p, int shift,
                      bool along_w, scalar_t* buf) {
  const int64_t Wp = W + 2 * p;
  std::fill(buf, buf + (H + 2 * p) * Wp, scalar_t(0));
  const int64_t s = cyclic_index(shift, along_w ? W : H);
  for (int64_t h = 0; h < H; ++h) {
    scalar_t* dst = buf + (h + p) * Wp + p;
    if (along_w) {  // dst[w] = row[(w - s) mod W]
      const scalar_t* row = plane + h * W;
      std::copy(row + W - s, row + W, dst);
      std::copy(row, row + W - s, dst + s);
    } else {  // dst row h = plane row (h - s) mod H
      const scalar_t* row = plane + cyclic_index(h - s, H) * W;
      std::copy(row, row + W, dst);
    }
  }
}

// out[h][w] += sum_{i,j} kernel[i*k + j] * buf[h + i][w + j], buf being (H+k-1) x (W+k-1).
template <typename scalar_t>
void correlate_accumulate(const scalar_t* buf, int64_t H, int64_t W, const scalar_t* kernel,
                          int k, scalar_t* out) {
  const int64_t Wp = W + k - 1;
  for (int64_t h = 0; h < H; ++h) {
    for (int i = 0; i < k; ++i) {
      const scalar_t* row = buf + (h + i) * Wp;
      for (int j = 0; j < k; ++j) axpy(out + h * W, row + j, kernel[i * k + j], W);
    }
  }
}

at::Tensor shift_mix_forward_cpu(const at::Tensor& x, const at::Tensor& weight_lr,
                                 const at::Tensor& bias_lr, const at::Tensor& weight_td,
                                 const at::Tensor& bias_td, at::IntArrayRef shifts,
                                 at::IntArrayRef kernel_sizes) {
  const ShiftMixGroups groups = make_shift_mix_groups(x, weight_lr, weight_td, shifts, kernel_sizes);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(bias_lr.numel() == C && bias_td.numel() == C, "shift_mix: biases need ", C,
              " values, got ", bias_lr.numel(), " and ", bias_td.numel());
  const at::Tensor input = x.contiguous();
  const at::Tensor wlr = weight_lr.contiguous(), wtd = weight_td.contiguous();
  const at::Tensor blr = bias_lr.contiguous(), btd = bias_td.contiguous();
  at::Tensor out = at::empty_like(input, at::MemoryFormat::Contiguous);
  if (out.numel() == 0) return out;

  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "shift_mix_forward_cpu", [&] {
    const scalar_t* xp = input.data_ptr<scalar_t>();
    const scalar_t *wlrp = wlr.data_ptr<scalar_t>(), *wtdp = wtd.data_ptr<scalar_t>();
    const scalar_t *blrp = blr.data_ptr<scalar_t>(), *btdp = btd.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> buf;
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t c = bc % C;
        const int g = groups.group_of(c);
        const int k = groups.kernel[g], p = k / 2, s = groups.shift[g];
        const int64_t woff = groups.weight_offset_of(c, g);
        buf.resize((H + 2 * p) * (W + 2 * p));
        const scalar_t* plane = xp + bc * H * W;
        scalar_t* o = op + bc * H * W;
        std::fill(o, o + H * W, blrp[c] + btdp[c]);
        roll_into_padded(plane, H, W, p, s, /*along_w=*/true, buf.data());
        correlate_accumulate(buf.data(), H, W, wlrp + woff, k, o);
        roll_into_padded(plane, H, W, p, s, /*along_w=*/false, buf.data());
        correlate_accumulate(buf.data(), H, W, wtdp + woff, k, o);
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
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const at::Tensor input = x.contiguous(), gout = grad_out.contiguous();
  // Flipping a k x k block in both axes reverses its k*k values: the input gradient of a
  // correlation is the correlation of the padded output gradient with the flipped kernel.
  at::Tensor flipped_lr = at::empty_like(weight_lr), flipped_td = at::empty_like(weight_td);
  at::Tensor grad_x = at::zeros_like(input, at::MemoryFormat::Contiguous);
  at::Tensor grad_wlr = at::zeros_like(weight_lr), grad_wtd = at::zeros_like(weight_td);
  if (input.numel() == 0) return {grad_x, grad_wlr, grad_wtd};

  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "shift_mix_backward_cpu", [&] {
    using acc_t = double;  // weight gradients sum B*H*W products
    const scalar_t* xp = input.data_ptr<scalar_t>();
    const scalar_t* gp = gout.data_ptr<scalar_t>();
    const at::Tensor wlr = weight_lr.contiguous(), wtd = weight_td.contiguous();
    const scalar_t *wlrp = wlr.data_ptr<scalar_t>(), *wtdp = wtd.data_ptr<scalar_t>();
    scalar_t *flrp = flipped_lr.data_ptr<scalar_t>(), *ftdp = flipped_td.data_ptr<scalar_t>();
    for (int64_t c = 0; c < C; ++c) {
      const int g = groups.group_of(c);
      const int64_t kk = static_cast<int64_t>(groups.kernel[g]) * groups.kernel[g];
      const int64_t off = groups.weight_offset_of(c, g);
      std::reverse_copy(wlrp + off, wlrp + off + kk, flrp + off);
      std::reverse_copy(wtdp + off, wtdp + off + kk, ftdp + off);
    }
    scalar_t* gxp = grad_x.data_ptr<scalar_t>();
    scalar_t *gwlrp = grad_wlr.data_ptr<scalar_t>(), *gwtdp = grad_wtd.data_ptr<scalar_t>();

    // Input gradient, plane by plane.
    at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> buf, rolled(H * W);
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t c = bc % C;
        const int g = groups.group_of(c);
        const int k = groups.kernel[g], p = k / 2;
        const int64_t woff = groups.weight_offset_of(c, g);
        buf.resize((H + 2 * p) * (W + 2 * p));
        roll_into_padded(gp + bc * H * W, H, W, p, 0, /*along_w=*/true, buf.data());
        scalar_t* gx = gxp + bc * H * W;
        // lr branch: the gradient w.r.t. the W-rolled plane, rolled back by -s along W.
        std::fill(rolled.begin(), rolled.end(), scalar_t(0));
        correlate_accumulate(buf.data(), H, W, flrp + woff, k, rolled.data());
        const int64_t sw = cyclic_index(groups.shift[g], W);
        for (int64_t h = 0; h < H; ++h) {
          const scalar_t* row = rolled.data() + h * W;
          std::copy(row + sw, row + W, gx + h * W);
          std::copy(row, row + sw, gx + h * W + W - sw);
        }
        // td branch: the same along H.
        std::fill(rolled.begin(), rolled.end(), scalar_t(0));
        correlate_accumulate(buf.data(), H, W, ftdp + woff, k, rolled.data());
        for (int64_t h = 0; h < H; ++h) {
          axpy(gx + h * W, rolled.data() + cyclic_index(h + groups.shift[g], H) * W, scalar_t(1), W);
        }
      }
    });

    // Weight gradients, channel by channel (the batch is summed inside, so no races).
    at::parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> buf;
      std::vector<acc_t> acc;
      for (int64_t c = begin; c < end; ++c) {
        const int g = groups.group_of(c);
        const int k = groups.kernel[g], p = k / 2, s = groups.shift[g];
        const int64_t woff = groups.weight_offset_of(c, g);
        const int64_t Wp = W + 2 * p;
        buf.resize((H + 2 * p) * Wp);
        for (const bool along_w : {true, false}) {
          acc.assign(static_cast<size_t>(k) * k, acc_t(0));
          for (int64_t b = 0; b < B; ++b) {
            const int64_t bc = b * C + c;
            roll_into_padded(xp + bc * H * W, H, W, p, s, along_w, buf.data());
            const scalar_t* go = gp + bc * H * W;
            for (int i = 0; i < k; ++i) {
              for (int j = 0; j < k; ++j) {
                acc_t sum = 0;
                for (int64_t h = 0; h < H; ++h) sum += dot(go + h * W, buf.data() + (h + i) * Wp + j, W);
                acc[i * k + j] += sum;
              }
            }
          }
          scalar_t* gw = (along_w ? gwlrp : gwtdp) + woff;
          for (int t = 0; t < k * k; ++t) gw[t] = static_cast<scalar_t>(acc[t]);
        }
      }
    });
  });
  return {grad_x, grad_wlr, grad_wtd};
}

}  // namespace

TORCH_LIBRARY_IMPL(vmlp_mm, CPU, m) {
  m.impl("shift_mix", &shift_mix_forward_cpu);
  m.impl("shift_mix_backward", &shift_mix_backward_cpu);
}

}  // namespace vmlp_mm
