#include "shift_mix.h"

namespace vmlp_mm {

ShiftMixGroups make_shift_mix_groups(const at::Tensor& x, const at::Tensor& weight_lr,
                                     const at::Tensor& weight_td, at::IntArrayRef shifts,
                                     at::IntArrayRef kernel_sizes) {
  TORCH_CHECK(x.dim() == 4, "shift_mix: x must be N x C x H x W, got ", x.dim(), " dims");
  TORCH_CHECK(shifts.size() == kernel_sizes.size(), "shift_mix: ", shifts.size(),
              " shifts but ", kernel_sizes.size(), " kernel sizes; give one of each per group");
  const int64_t requested = static_cast<int64_t>(shifts.size());
  TORCH_CHECK(requested >= 1 && requested <= kShiftMixMaxGroups, "shift_mix: 1 to ",
              kShiftMixMaxGroups, " groups are supported, got ", requested);
  const int64_t channels = x.size(1);
  TORCH_CHECK(channels >= 1, "shift_mix: x has no channels");

  ShiftMixGroups groups{};
  groups.chunk = static_cast<int>((channels + requested - 1) / requested);
  groups.num_groups = static_cast<int>((channels + groups.chunk - 1) / groups.chunk);
  int64_t offset = 0;
  for (int g = 0; g < groups.num_groups; ++g) {
    const int64_t k = kernel_sizes[g];
    TORCH_CHECK(k >= 1 && k % 2 == 1, "shift_mix: kernel sizes must be odd and positive, got ",
                k, " for group ", g);
    groups.kernel[g] = static_cast<int>(k);
    groups.shift[g] = static_cast<int>(shifts[g]);
    groups.weight_offset[g] = offset;
    const int64_t group_channels =
        std::min<int64_t>(groups.chunk, channels - static_cast<int64_t>(g) * groups.chunk);
    offset += group_channels * k * k;
  }
  for (const auto* w : {&weight_lr, &weight_td}) {
    TORCH_CHECK(w->dim() == 1 && w->numel() == offset, "shift_mix: packed weights must be 1-D with ",
                offset, " values for ", channels, " channels, got shape ", w->sizes());
    TORCH_CHECK(w->scalar_type() == x.scalar_type() && w->device() == x.device(),
                "shift_mix: the weights are ", w->scalar_type(), " on ", w->device(), " but x is ",
                x.scalar_type(), " on ", x.device(),
                "; pass them in one dtype and device (under torch.autocast the op casts them)");
  }
  return groups;
}

}  // namespace vmlp_mm
