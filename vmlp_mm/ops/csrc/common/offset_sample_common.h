// Shared by the CPU and CUDA kernels of ActiveMLP's offset-sampling op.
//
// Channels-last x[B][H][W][C] is sampled along one axis (H or W) at position p + delta, where
// delta = offset[b][h][w][c / S] is shared by S consecutive channels (offset is [B][H][W][C/S]):
// 1-D linear interpolation between floor(p + delta) and the next position, zeros outside the map.
// This is what torchvision's deform_conv2d computes for a 1x1 kernel when the offset along the
// other axis is zero (ActiveMLP's ATMOp).
#pragma once

#include <cmath>
#include <cstdint>

#include "vmlp_common.h"

namespace vmlp_mm {

// The two taps of a 1-D linear interpolation at `pos`: index p0 = floor(pos) with weight 1 - l,
// and p0 + 1 with weight l. A tap outside [0, size) contributes zero. A non-finite position (NaN
// or infinite offset) lies nowhere on the map: both taps are outside, the sample is zero and its
// gradients are zero (the reference op does the same).
template <typename acc_t>
struct LinearTaps {
  int64_t p0;
  acc_t l;
  bool lo_valid, hi_valid;

  VMLP_HOST_DEVICE LinearTaps(acc_t pos, int64_t size) {
    // pos - pos is 0 for finite pos, NaN otherwise (the same test on host and device; casting
    // NaN to an integer below would be undefined)
    if (!(pos - pos == acc_t(0))) {
      p0 = -2;
      l = acc_t(0);
      lo_valid = hi_valid = false;
      return;
    }
    const acc_t f = floor(pos);
    // clamp before the cast so that far-away offsets stay well defined (both taps outside)
    const acc_t clamped = f < acc_t(-2) ? acc_t(-2) : (f > acc_t(size) ? acc_t(size) : f);
    p0 = static_cast<int64_t>(clamped);
    l = pos - f;
    lo_valid = p0 >= 0 && p0 < size;
    hi_valid = p0 + 1 >= 0 && p0 + 1 < size;
  }
};

}  // namespace vmlp_mm
