#include "offset_sample.h"

namespace vmlp_mm {

int64_t check_offset_sample_args(const at::Tensor& x, const at::Tensor& offset, int64_t axis) {
  TORCH_CHECK(x.dim() == 4, "offset_sample: x must be channels-last [B, H, W, C], got ", x.dim(),
              " dims");
  TORCH_CHECK(offset.dim() == 4 && offset.size(0) == x.size(0) && offset.size(1) == x.size(1) &&
                  offset.size(2) == x.size(2),
              "offset_sample: offset must be [B, H, W, C / S] for x of shape ", x.sizes(),
              ", got ", offset.sizes());
  TORCH_CHECK(offset.size(3) >= 1 && x.size(3) % offset.size(3) == 0, "offset_sample: ",
              x.size(3), " channels cannot share ", offset.size(3), " offsets evenly");
  TORCH_CHECK(axis == 1 || axis == 2, "offset_sample: axis must be 1 (H) or 2 (W), got ", axis);
  TORCH_CHECK(offset.scalar_type() == x.scalar_type() && offset.device() == x.device(),
              "offset_sample: offset is ", offset.scalar_type(), " on ", offset.device(),
              " but x is ", x.scalar_type(), " on ", x.device(),
              "; pass both in one dtype and device (under torch.autocast the offsets are cast to "
              "x's dtype)");
  return x.size(3) / offset.size(3);
}

}  // namespace vmlp_mm
