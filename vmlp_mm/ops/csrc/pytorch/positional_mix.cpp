// The positional-mixing op on every device:
//   out[b, m, c] = sum_n softmax_n(score_g(m, n)) x[b, n, c]
// for channel c of group g = c mod G (positional_mix_common.h).
//
// The [G, N, N] weights are never materialised: they are cut into tiles of at most
// kTileElements weights (Tile); each tile's weights are formed, used by one batched GEMM and
// dropped. A tile holds whole rows (all N sources of its targets), so each row's softmax
// is exact without flash attention's running max and sum: N is one window's tokens, bounded by
// PosMLP's max_window_tokens, and a row of them always fits. The backward recomputes each tile
// and reduces it straight into the gradients of x and of the coefficients; since a row is whole,
// the softmax backward's sum_n P * dP comes from the tile itself and the output is not saved.
//
// Channels are grouped once per call ([G, N, B * C / G], the layout of the batched GEMMs; the
// devices' to_groups / from_groups). The
// GEMMs run in float32 (float64 for float64 inputs) on CPU, where float16 / bfloat16 GEMMs are
// not faster without AMX, and in the input dtype on CUDA (tensor cores, float32 accumulation).
#include "positional_mix.h"

#include <algorithm>

#include "positional_mix_common.h"

namespace vmlp_mm {
namespace {

// 1 Mi weights per tile (4 MiB in float32): one group of a 1024-token window, 551-target slices
// of a 1,900-token one. Measured on 2 CPU cores (op forward + backward at N = 1024 and 1,900):
// 4x smaller tiles cost 1.1-1.2x, 4x larger ones 1.5-2x (the tile leaves the cache between the
// kernels and the GEMMs that read it).
constexpr int64_t kTileElements = int64_t(1) << 20;

at::ScalarType opmath_type(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

void check_args(const at::Tensor& x, const at::Tensor& coefficients, int64_t rows, int64_t cols) {
  TORCH_CHECK_VALUE(rows >= 1 && cols >= 1,
                    "positional_mix: the window must be at least 1 x 1, got ", rows, " x ", cols);
  TORCH_CHECK_VALUE(x.dim() == 3 && x.size(1) == rows * cols,
                    "positional_mix: x must be [B, N, C] with N = rows * cols = ", rows * cols,
                    " tokens of one window per B, got ", x.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(x.scalar_type()),
                   "positional_mix: x must be floating point, got ", x.scalar_type());
  TORCH_CHECK_VALUE(coefficients.dim() == 2 && coefficients.size(1) == kPositionalFeatures &&
                        coefficients.size(0) >= 1 && x.size(2) % coefficients.size(0) == 0,
                    "positional_mix: coefficients must be [G, 5] with G dividing x's ", x.size(2),
                    " channels, got ", coefficients.sizes());
  TORCH_CHECK_TYPE(
      coefficients.scalar_type() == opmath_type(x) && coefficients.device() == x.device(),
      "positional_mix: coefficients are ", coefficients.scalar_type(), " on ",
      coefficients.device(), " but x is ", x.scalar_type(), " on ", x.device(), "; pass them as ",
      opmath_type(x), " on x's device (scores are computed in float32 for float32 and half "
      "inputs, float64 for float64)");
}

// A block of the [G, N, N] weights: groups g0 .. g0 + groups, targets m0 .. m0 + targets, all
// N sources. Tiles hold whole groups while a group's N x N weights fit kTileElements (each
// group's weights are then formed once per call), else one group's targets in slices.
struct Tile {
  int64_t g0, groups, m0, targets;
};

bool tiles_hold_whole_groups(int64_t N) { return N * N <= kTileElements; }

template <typename Fn>
void for_each_tile(int64_t G, int64_t N, Fn fn) {
  if (tiles_hold_whole_groups(N)) {
    const int64_t groups = std::max<int64_t>(1, kTileElements / (N * N));
    for (int64_t g0 = 0; g0 < G; g0 += groups) fn(Tile{g0, std::min(groups, G - g0), 0, N});
    return;
  }
  const int64_t targets = std::max<int64_t>(1, kTileElements / N);
  for (int64_t g0 = 0; g0 < G; ++g0) {
    for (int64_t m0 = 0; m0 < N; m0 += targets) fn(Tile{g0, 1, m0, std::min(targets, N - m0)});
  }
}

at::ScalarType gemm_type(const at::Tensor& x) {
  return x.is_cuda() ? x.scalar_type() : opmath_type(x);
}

}  // namespace

at::Tensor to_groups_by_copy(const at::Tensor& t, int64_t groups, at::ScalarType dtype) {
  const int64_t B = t.size(0), N = t.size(1), K = t.size(2) / groups;
  at::Tensor out = at::empty({groups, N, B, K}, t.options().dtype(dtype));
  out.copy_(t.reshape({B, N, K, groups}).permute({3, 1, 0, 2}));
  return out.view({groups, N, B * K});
}

at::Tensor from_groups_by_copy(const at::Tensor& t, int64_t batch, at::ScalarType dtype) {
  const int64_t G = t.size(0), N = t.size(1), K = t.size(2) / batch;
  at::Tensor out = at::empty({batch, N, K, G}, t.options().dtype(dtype));
  out.copy_(t.view({G, N, batch, K}).permute({2, 1, 3, 0}));
  return out.view({batch, N, K * G});
}

at::Tensor positional_mix_forward(const at::Tensor& x, const at::Tensor& coefficients,
                                  int64_t rows, int64_t cols, const PositionalMixKernels& kernels) {
  check_args(x, coefficients, rows, cols);
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), G = coefficients.size(0);
  if (x.numel() == 0) return at::empty({B, N, C}, x.options());
  const at::Tensor coef = coefficients.contiguous();
  const at::Tensor xg = kernels.to_groups(x, G, gemm_type(x));
  // every tile's product lands in its block of the grouped output, ungrouped once at the end
  at::Tensor mixed = at::empty_like(xg);
  for_each_tile(G, N, [&](const Tile& t) {
    at::Tensor probs = at::empty({t.groups, t.targets, N}, coef.options());
    kernels.fill_probs(coef.narrow(0, t.g0, t.groups), rows, cols, t.m0, probs);
    at::Tensor mixed_tile = mixed.narrow(0, t.g0, t.groups).narrow(1, t.m0, t.targets);
    at::bmm_out(mixed_tile, probs.to(xg.scalar_type()), xg.narrow(0, t.g0, t.groups));
  });
  return kernels.from_groups(mixed, B, x.scalar_type());
}

std::tuple<at::Tensor, at::Tensor> positional_mix_backward(const at::Tensor& grad_out,
                                                           const at::Tensor& x,
                                                           const at::Tensor& coefficients,
                                                           int64_t rows, int64_t cols,
                                                           const PositionalMixKernels& kernels) {
  check_args(x, coefficients, rows, cols);
  TORCH_CHECK_VALUE(grad_out.sizes() == x.sizes(), "positional_mix_backward: grad_out must have "
                    "x's shape ", x.sizes(), ", got ", grad_out.sizes());
  const int64_t B = x.size(0), N = x.size(1), G = coefficients.size(0);
  const at::Tensor coef = coefficients.contiguous();
  at::Tensor grad_coef = at::zeros_like(coef);
  if (x.numel() == 0) return {at::zeros_like(x, at::MemoryFormat::Contiguous), grad_coef};
  const at::ScalarType gemm = gemm_type(x), opmath = opmath_type(x);
  const at::Tensor xg = kernels.to_groups(x, G, gemm), gg = kernels.to_groups(grad_out, G, gemm);
  // the input gradient accumulates over target tiles in float32 (float64) on every device; a
  // tile of all targets writes its groups' gradient at once
  const bool whole_groups = tiles_hold_whole_groups(N);
  at::Tensor grad_xg = whole_groups && gemm == opmath
                           ? at::empty(xg.sizes(), xg.options().dtype(opmath))
                           : at::zeros(xg.sizes(), xg.options().dtype(opmath));
  for_each_tile(G, N, [&](const Tile& t) {
    at::Tensor probs = at::empty({t.groups, t.targets, N}, coef.options());
    kernels.fill_probs(coef.narrow(0, t.g0, t.groups), rows, cols, t.m0, probs);
    const at::Tensor probs_gemm = probs.to(gemm);
    const at::Tensor grad_tile = gg.narrow(0, t.g0, t.groups).narrow(1, t.m0, t.targets);
    const at::Tensor x_tile = xg.narrow(0, t.g0, t.groups);
    // dP = grad_out . x^T over the tile's targets, then straight into the coefficients' gradient
    const at::Tensor grad_probs = at::bmm(grad_tile, x_tile.transpose(1, 2)).to(opmath);
    at::Tensor partial = at::empty({t.groups, t.targets, kPositionalFeatures}, coef.options());
    kernels.coefficient_grads(probs, grad_probs, rows, cols, t.m0, partial);
    grad_coef.narrow(0, t.g0, t.groups).add_(partial.sum(1));
    // grad x[n] += sum over the tile's targets m of P[m, n] grad_out[m]
    at::Tensor grad_x_tile = grad_xg.narrow(0, t.g0, t.groups);
    if (whole_groups && gemm == opmath) {
      at::bmm_out(grad_x_tile, probs_gemm.transpose(1, 2), grad_tile);
    } else if (gemm == opmath) {
      grad_x_tile.baddbmm_(probs_gemm.transpose(1, 2), grad_tile);
    } else {
      grad_x_tile.add_(at::bmm(probs_gemm.transpose(1, 2), grad_tile));
    }
  });
  return {kernels.from_groups(grad_xg, B, x.scalar_type()), grad_coef};
}

}  // namespace vmlp_mm
