// CPU kernels of the positional-mixing op: the two per-tile kernels of the driver
// (positional_mix.cpp), one target row (group g, target m) at a time, rows split over threads.
//
// A group's score depends only on the relative offset (dx, dy), of which a rows x cols window
// has (2 rows - 1)(2 cols - 1), about 4N, against the N^2 weights of a tile's group. So each
// call first tabulates exp(score - the group's largest score) over the offsets, in float64
// (4N exponentials instead of N^2), and a target's unnormalised weights are then contiguous
// segments of that table, one per source row: forming a weight is a load and a multiply, which
// vectorises. The softmax is invariant to the constant subtracted; float64's range (e^-708)
// keeps every weight that float32 can represent unless a target's own best score lies ~570
// below the group's, where its row is computed directly (exp of score - the row's max).
//
// Weights below the square root of their type's smallest normal number are stored as zero
// (kept_weight): 2^-63 in float32, 2^-511 in float64. Subnormal operands and results cost Intel
// cores a microcode assist per operation, and a window's far sources get weights far below
// that bound routinely (exp(-100) is subnormal in float32). Flushing only the subnormal weights
// is not enough: a kept weight of 1e-30 times a gradient of 1e-10 is subnormal again, in the
// GEMMs' sums and the coefficients' gradient. A weight of at least sqrt(min) times any operand
// of at least sqrt(min) is normal. On a Sapphire Rapids Xeon, PosMLP-T's stage-3 GEMMs (N = 1024)
// ran ~24x slower over unflushed tiles (17 against 0.7 ms per group), and a training step at
// 512 x 512 took 2-3x longer with subnormal weights flushed but their products with the
// backward's small gradients not (measured against torch.set_flush_denormal). A dropped weight
// is below 2^-63 of its row's sum of 1, so the at most N dropped ones change a result by less
// than N 2^-63 of the largest |x|, far below float32's rounding (2^-24); float64's bound is
// 2^-511. CUDA cores run subnormals at full speed; its kernel keeps them.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "../positional_mix.h"
#include "cpu_helpers.h"
#include "positional_mix_common.h"

namespace vmlp_mm {
namespace {

// The smallest weight stored in T: the square root of T's smallest normal number (see above).
template <typename T>
constexpr double kSmallestKeptWeight = 0x1p-63;
template <>
constexpr double kSmallestKeptWeight<double> = 0x1p-511;

// A weight w (a probability, or a table entry at most 1) as stored in T: zero below
// kSmallestKeptWeight<T>. Compared in double, so the conversion never makes a subnormal T. A
// product, not a select: GCC does not vectorise `w >= bound ? w : 0` under -ftrapping-math (the
// fill loops ran 5x slower).
template <typename T>
VMLP_INLINE T kept_weight(double w) {
  return static_cast<T>(w * static_cast<double>(w >= kSmallestKeptWeight<T>));
}

// A row's table sum below this means its weights lie far below the group's peak (see above).
constexpr double kSmallestTableSum = 1e-250;

// The offsets table of one group: exp(score(dx, dy) - max score), row dy + rows - 1, column
// dx + cols - 1; and the sums of its segments, from which each target's softmax denominator
// is a sum of `rows` terms instead of N (summing N weights per target cost as much as forming
// them).
struct OffsetTable {
  int64_t rows, cols;
  std::vector<double> values;
  // segment_sums[k * cols + col] = sum of the cols entries of table row k that target column
  // col reads (see segment)
  std::vector<double> segment_sums;

  OffsetTable(const double* c, int64_t rows, int64_t cols)
      : rows(rows), cols(cols), values((2 * rows - 1) * (2 * cols - 1)),
        segment_sums((2 * rows - 1) * cols) {
    const int64_t width = 2 * cols - 1;
    double max = -std::numeric_limits<double>::infinity();
    for (int64_t dy = 1 - rows; dy < rows; ++dy) {
      const SourceRowScore<double> score(c, static_cast<double>(dy));
      double* row = values.data() + (dy + rows - 1) * width;
      for (int64_t dx = 1 - cols; dx < cols; ++dx) {
        row[dx + cols - 1] = score(static_cast<double>(dx));
        max = std::max(max, row[dx + cols - 1]);
      }
    }
    for (double& v : values) {  // subnormal doubles would slow the sums below
      v = std::exp(v - max);
      if (v < std::numeric_limits<double>::min()) v = 0;
    }
    for (int64_t k = 0; k < 2 * rows - 1; ++k) {
      for (int64_t col = 0; col < cols; ++col) {
        segment_sums[k * cols + col] = sum_of(values.data() + k * width + (cols - 1 - col), cols);
      }
    }
  }

  // The table entries of target (row, col)'s sources in source row r: cols contiguous values.
  const double* segment(int64_t row, int64_t col, int64_t r) const {
    return values.data() + (row - r + rows - 1) * (2 * cols - 1) + (cols - 1 - col);
  }

  // The sum of target (row, col)'s table entries (its softmax denominator).
  double target_sum(int64_t row, int64_t col) const {
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r) sum += segment_sums[(row - r + rows - 1) * cols + col];
    return sum;
  }

 private:
  static double sum_of(const double* v, int64_t count) {
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < count; ++i) sum += v[i];
    return sum;
  }
};

// probs[n] = softmax_n score(m, n) for target (row, col), from the group's table.
template <typename T>
VMLP_INLINE void fill_row(const OffsetTable& table, const double* c, int64_t row, int64_t col,
                          T* probs) {
  const int64_t rows = table.rows, cols = table.cols;
  const double sum = table.target_sum(row, col);
  if (sum >= kSmallestTableSum && std::isfinite(sum)) {
    const double inv = 1. / sum;
    for (int64_t r = 0; r < rows; ++r) {
      const double* e = table.segment(row, col, r);
      T* p = probs + r * cols;
#pragma omp simd
      for (int64_t q = 0; q < cols; ++q) p[q] = kept_weight<T>(e[q] * inv);
    }
    return;
  }
  // far from the group's peak (or non-finite coefficients): this row's own softmax
  std::vector<double> scores(rows * cols);
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    const SourceRowScore<double> score(c, static_cast<double>(row - r));
    for (int64_t q = 0; q < cols; ++q) {
      scores[r * cols + q] = score(static_cast<double>(q - col));
      max = std::max(max, scores[r * cols + q]);
    }
  }
  double total = 0;
  for (double& s : scores) total += s = std::exp(s - max);
  for (int64_t n = 0; n < rows * cols; ++n) {
    probs[n] = kept_weight<T>(scores[n] / total);
  }
}

// The row and column of every token of a window, as T (tables of the flat loops below).
template <typename T>
struct TokenPositions {
  std::vector<T> row, col;

  TokenPositions(int64_t rows, int64_t cols) : row(rows * cols), col(rows * cols) {
    for (int64_t n = 0; n < rows * cols; ++n) {
      row[n] = static_cast<T>(n / cols);
      col[n] = static_cast<T>(n % cols);
    }
  }
};

// partial[0..4] = sum_n dS[n] f(m, n) with dS = P (dP - sum_n P dP), features in the order
// dx, dy, dx^2, dy^2, dx dy: one flat loop over the sources (a loop per source row would be
// as short as a window's row, 14-76, and spend its time in the reductions' epilogues).
template <typename T>
VMLP_INLINE void coefficient_grads_row(const T* probs, const T* grad_probs,
                                       const TokenPositions<T>& sources, int64_t row,
                                       int64_t col, T* partial) {
  const int64_t N = static_cast<int64_t>(sources.row.size());
  const T* source_row = sources.row.data();
  const T* source_col = sources.col.data();
  T dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int64_t n = 0; n < N; ++n) dot += probs[n] * grad_probs[n];
  const T target_row = static_cast<T>(row), target_col = static_cast<T>(col);
  T g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0;
#pragma omp simd reduction(+ : g0, g1, g2, g3, g4)
  for (int64_t n = 0; n < N; ++n) {
    const T ds = probs[n] * (grad_probs[n] - dot);
    const T dx = source_col[n] - target_col, dy = target_row - source_row[n];
    const T ds_dx = ds * dx, ds_dy = ds * dy;
    g0 += ds_dx;
    g1 += ds_dy;
    g2 += ds_dx * dx;
    g3 += ds_dy * dy;
    g4 += ds_dx * dy;
  }
  partial[0] = g0;
  partial[1] = g1;
  partial[2] = g2;
  partial[3] = g3;
  partial[4] = g4;
}

#define VMLP_ROW_KERNELS(T)                                                                     \
  VMLP_MULTIVERSION void fill_row_mv(const OffsetTable& table, const double* c, int64_t row,    \
                                     int64_t col, T* probs) {                                   \
    fill_row(table, c, row, col, probs);                                                        \
  }                                                                                             \
  VMLP_MULTIVERSION void coefficient_grads_row_mv(const T* probs, const T* grad_probs,          \
                                                  const TokenPositions<T>& sources, int64_t row, \
                                                  int64_t col, T* partial) {                    \
    coefficient_grads_row(probs, grad_probs, sources, row, col, partial);                       \
  }
VMLP_ROW_KERNELS(float)
VMLP_ROW_KERNELS(double)
#undef VMLP_ROW_KERNELS

// Rows of about 16 Ki sources per task: the smallest windows (49 tokens) still batch enough work.
int64_t grain(int64_t tokens) { return std::max<int64_t>(1, (int64_t(1) << 14) / tokens); }

// The tables of the groups of the last tile this thread filled, and the inputs they came from.
// A group whose N x N weights exceed a tile comes in target slices, one call each with the same
// coefficients (positional_mix.cpp): its table is built once, not once per slice. At 50 x 76
// (14 slices per group, ~0.3 ms per table, serial) this took the op from 277 to 188 ms forward
// and 426 to 341 ms backward (G = 32, R = 24). Keyed by the coefficients' values, not their
// address: a tensor updated in place between calls gets new tables.
class TableCache {
 public:
  const std::vector<std::unique_ptr<OffsetTable>>& get(const double* c, int64_t groups,
                                                       int64_t rows, int64_t cols) {
    const std::vector<double> key(c, c + groups * kPositionalFeatures);
    if (key != key_ || rows != rows_ || cols != cols_) {
      tables_.clear();
      tables_.resize(groups);
      at::parallel_for(0, groups, 1, [&](int64_t begin, int64_t end) {
        for (int64_t g = begin; g < end; ++g) {
          tables_[g] = std::make_unique<OffsetTable>(c + g * kPositionalFeatures, rows, cols);
        }
      });
      key_ = key;
      rows_ = rows;
      cols_ = cols;
    }
    return tables_;
  }

 private:
  std::vector<double> key_;
  int64_t rows_ = 0, cols_ = 0;
  std::vector<std::unique_ptr<OffsetTable>> tables_;
};

void fill_probs_cpu(const at::Tensor& coefficients, int64_t rows, int64_t cols, int64_t m0,
                    at::Tensor& probs) {
  const int64_t groups = probs.size(0), targets = probs.size(1), N = probs.size(2);
  const at::Tensor coef = coefficients.to(at::kDouble).contiguous();
  const double* c = coef.data_ptr<double>();
  thread_local TableCache cache;
  const std::vector<std::unique_ptr<OffsetTable>>& tables = cache.get(c, groups, rows, cols);
  AT_DISPATCH_FLOATING_TYPES(probs.scalar_type(), "positional_mix_fill_probs_cpu", [&] {
    scalar_t* p = probs.data_ptr<scalar_t>();
    at::parallel_for(0, groups * targets, grain(N), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t g = i / targets, m = m0 + i % targets;
        fill_row_mv(*tables[g], c + g * kPositionalFeatures, m / cols, m % cols, p + i * N);
      }
    });
  });
}

void coefficient_grads_cpu(const at::Tensor& probs, const at::Tensor& grad_probs, int64_t rows,
                           int64_t cols, int64_t m0, at::Tensor& partial) {
  const int64_t targets = probs.size(1), N = probs.size(2);
  AT_DISPATCH_FLOATING_TYPES(probs.scalar_type(), "positional_mix_coefficient_grads_cpu", [&] {
    const scalar_t* p = probs.data_ptr<scalar_t>();
    const scalar_t* dp = grad_probs.data_ptr<scalar_t>();
    scalar_t* out = partial.data_ptr<scalar_t>();
    const TokenPositions<scalar_t> sources(rows, cols);
    at::parallel_for(0, probs.size(0) * targets, grain(N), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t m = m0 + i % targets;
        coefficient_grads_row_mv(p + i * N, dp + i * N, sources, m / cols, m % cols,
                                 out + i * kPositionalFeatures);
      }
    });
  });
}

constexpr PositionalMixKernels kCpuKernels{&fill_probs_cpu, &coefficient_grads_cpu};

at::Tensor positional_mix_cpu(const at::Tensor& x, const at::Tensor& coefficients, int64_t rows,
                              int64_t cols) {
  return positional_mix_forward(x, coefficients, rows, cols, kCpuKernels);
}

std::tuple<at::Tensor, at::Tensor> positional_mix_backward_cpu(const at::Tensor& grad_out,
                                                               const at::Tensor& x,
                                                               const at::Tensor& coefficients,
                                                               int64_t rows, int64_t cols) {
  return positional_mix_backward(grad_out, x, coefficients, rows, cols, kCpuKernels);
}

}  // namespace

TORCH_LIBRARY_IMPL(vmlp_mm, CPU, m) {
  m.impl("positional_mix", &positional_mix_cpu);
  m.impl("positional_mix_backward", &positional_mix_backward_cpu);
}

}  // namespace vmlp_mm
