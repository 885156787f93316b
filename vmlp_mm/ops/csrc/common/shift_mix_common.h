// Shared by the CPU and CUDA kernels of MS-MLP's shift-mix op.
//
// The op mixes C channels that torch.chunk(x, G, dim=1) splits into groups of ceil(C/G)
// channels (the last group may be smaller, and there may be fewer than G groups, exactly like
// the official MixShiftBlock which zips the chunks with its G convolutions). Group g has one
// cyclic shift s_g and one odd depthwise kernel size k_g; the depthwise weights of both branches
// are packed channel after channel into flat tensors (k_c * k_c values each).
#pragma once

#include <cstdint>

#include "vmlp_common.h"

namespace vmlp_mm {

// MS-MLP uses 5 groups; a fixed bound lets the table travel to CUDA kernels by value.
constexpr int kShiftMixMaxGroups = 16;

struct ShiftMixGroups {
  int num_groups;
  int chunk;  // channels per group, ceil(C / G)
  int shift[kShiftMixMaxGroups];
  int kernel[kShiftMixMaxGroups];
  int64_t weight_offset[kShiftMixMaxGroups];  // first packed weight of the group

  VMLP_HOST_DEVICE int group_of(int64_t channel) const {
    return static_cast<int>(channel / chunk);
  }
  // First of the k*k packed weights of `channel`, which belongs to group `g`.
  VMLP_HOST_DEVICE int64_t weight_offset_of(int64_t channel, int g) const {
    return weight_offset[g] + (channel - static_cast<int64_t>(g) * chunk) * kernel[g] * kernel[g];
  }
};

// Index of position `i - shift` in a cyclic axis of length n (torch.roll's source index).
VMLP_HOST_DEVICE inline int64_t cyclic_index(int64_t i, int64_t n) {
  const int64_t r = i % n;
  return r < 0 ? r + n : r;
}

}  // namespace vmlp_mm
