// The positional-mixing op on every device, on grouped tokens x [G, R, N]:
//   out[g, r, m] = sum_n softmax_n(score_g(m, n)) x[g, r, n]
// (positional_mix_common.h). Each group's R rows (its channels of every window) are one GEMM
// operand as they lie: out[g] = x[g] . P_g^T, no copy of x on the way in or out.
//
// The [G, N, N] weights are never materialised: they are cut into tiles of at most
// kTileElements weights (Tile); each tile's weights are formed, used by one batched GEMM and
// dropped. A tile holds whole rows (all N sources of its targets), so each row's softmax
// is exact without flash attention's running max and sum: N is one window's tokens, bounded by
// PosMLP's max_window_tokens, and a row of them always fits. The backward recomputes each tile
// and reduces it straight into the gradients of x and of the coefficients; since a row is whole,
// the softmax backward's sum_n P * dP comes from the tile itself and the output is not saved.
//
// The GEMMs run in float32 (float64 for float64 inputs) on CPU, where float16 / bfloat16 GEMMs
// are not faster without AMX, and in the input dtype on CUDA (tensor cores, float32
// accumulation).
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
  TORCH_CHECK_VALUE(x.dim() == 3 && x.size(2) == rows * cols,
                    "positional_mix: x must be [G, R, N] with N = rows * cols = ", rows * cols,
                    " tokens of one window last, got ", x.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(x.scalar_type()),
                   "positional_mix: x must be floating point, got ", x.scalar_type());
  TORCH_CHECK_VALUE(coefficients.dim() == 2 && coefficients.size(1) == kPositionalFeatures &&
                        coefficients.size(0) == x.size(0),
                    "positional_mix: coefficients must be [G, 5] for x's G = ", x.size(0),
                    " groups, got ", coefficients.sizes());
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

at::Tensor positional_mix_forward(const at::Tensor& x, const at::Tensor& coefficients,
                                  int64_t rows, int64_t cols, const PositionalMixKernels& kernels) {
  check_args(x, coefficients, rows, cols);
  const int64_t G = x.size(0), R = x.size(1), N = x.size(2);
  if (x.numel() == 0) return at::empty({G, R, N}, x.options());
  const at::Tensor coef = coefficients.contiguous();
  const at::Tensor xg = x.to(gemm_type(x)).contiguous();
  at::Tensor mixed = at::empty_like(xg);
  for_each_tile(G, N, [&](const Tile& t) {
    at::Tensor probs = at::empty({t.groups, t.targets, N}, coef.options());
    kernels.fill_probs(coef.narrow(0, t.g0, t.groups), rows, cols, t.m0, probs);
    // out[g, :, tile's targets] = x[g] . P_tile^T
    at::Tensor mixed_tile = mixed.narrow(0, t.g0, t.groups).narrow(2, t.m0, t.targets);
    at::bmm_out(mixed_tile, xg.narrow(0, t.g0, t.groups), probs.to(xg.scalar_type()).transpose(1, 2));
  });
  return mixed.to(x.scalar_type());
}

std::tuple<at::Tensor, at::Tensor> positional_mix_backward(const at::Tensor& grad_out,
                                                           const at::Tensor& x,
                                                           const at::Tensor& coefficients,
                                                           int64_t rows, int64_t cols,
                                                           const PositionalMixKernels& kernels) {
  check_args(x, coefficients, rows, cols);
  TORCH_CHECK_VALUE(grad_out.sizes() == x.sizes(), "positional_mix_backward: grad_out must have "
                    "x's shape ", x.sizes(), ", got ", grad_out.sizes());
  const int64_t N = x.size(2);
  const at::Tensor coef = coefficients.contiguous();
  at::Tensor grad_coef = at::zeros_like(coef);
  if (x.numel() == 0) return {at::zeros_like(x, at::MemoryFormat::Contiguous), grad_coef};
  const at::ScalarType gemm = gemm_type(x), opmath = opmath_type(x);
  const at::Tensor xg = x.to(gemm).contiguous(), gg = grad_out.to(gemm).contiguous();
  // the input gradient accumulates over target tiles in float32 (float64) on every device; a
  // tile of all targets writes its groups' gradient at once
  const bool whole_groups = tiles_hold_whole_groups(N);
  at::Tensor grad_x = whole_groups && gemm == opmath
                          ? at::empty(xg.sizes(), xg.options().dtype(opmath))
                          : at::zeros(xg.sizes(), xg.options().dtype(opmath));
  for_each_tile(x.size(0), N, [&](const Tile& t) {
    at::Tensor probs = at::empty({t.groups, t.targets, N}, coef.options());
    kernels.fill_probs(coef.narrow(0, t.g0, t.groups), rows, cols, t.m0, probs);
    const at::Tensor probs_gemm = probs.to(gemm);
    const at::Tensor grad_tile = gg.narrow(0, t.g0, t.groups).narrow(2, t.m0, t.targets);
    const at::Tensor x_tile = xg.narrow(0, t.g0, t.groups);
    // dP = grad_out^T . x over the tile's targets, then straight into the coefficients' gradient
    const at::Tensor grad_probs = at::bmm(grad_tile.transpose(1, 2), x_tile).to(opmath);
    at::Tensor partial = at::empty({t.groups, t.targets, kPositionalFeatures}, coef.options());
    kernels.coefficient_grads(probs, grad_probs, rows, cols, t.m0, partial);
    grad_coef.narrow(0, t.g0, t.groups).add_(partial.sum(1));
    // grad x[g, :, n] += sum over the tile's targets m of grad_out[g, :, m] P[m, n]
    at::Tensor grad_x_tile = grad_x.narrow(0, t.g0, t.groups);
    if (whole_groups && gemm == opmath) {
      at::bmm_out(grad_x_tile, grad_tile, probs_gemm);
    } else if (gemm == opmath) {
      grad_x_tile.baddbmm_(grad_tile, probs_gemm);
    } else {
      grad_x_tile.add_(at::bmm(grad_tile, probs_gemm));
    }
  });
  return {grad_x.to(x.scalar_type()), grad_coef};
}

}  // namespace vmlp_mm
