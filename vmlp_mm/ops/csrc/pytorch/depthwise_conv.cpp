#include "depthwise_conv.h"

#include <ATen/ops/conv2d.h>

namespace vmlp_mm {

std::pair<int64_t, int64_t> check_depthwise_conv_args(const at::Tensor& x,
                                                      const at::Tensor& weight) {
  TORCH_CHECK(x.dim() == 4, "depthwise_conv2d: x must be [B, C, H, W], got ", x.dim(), " dims");
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == x.size(1) && weight.size(1) == 1,
              "depthwise_conv2d: weight must be [C, 1, kh, kw] with C = ", x.size(1),
              " (x's channels), got ", weight.sizes());
  const int64_t kh = weight.size(2), kw = weight.size(3);
  TORCH_CHECK(kh % 2 == 1 && kw % 2 == 1, "depthwise_conv2d: the kernel must have odd sides "
              "(the output keeps the input's size with padding k // 2), got ", kh, "x", kw);
  TORCH_CHECK(weight.scalar_type() == x.scalar_type() && weight.device() == x.device(),
              "depthwise_conv2d: weight is ", weight.scalar_type(), " on ", weight.device(),
              " but x is ", x.scalar_type(), " on ", x.device(),
              "; pass both in one dtype and device (under torch.autocast the op casts them)");
  return {kh, kw};
}

at::Tensor depthwise_correlate(const at::Tensor& x, const at::Tensor& weight,
                               std::pair<int64_t, int64_t> kernel) {
  const at::Tensor input = x.contiguous(at::MemoryFormat::ChannelsLast);
  // ATen picks the output's memory format from the input's; a map of one pixel or one channel is
  // both formats at once, so the result is made channels-last explicitly
  return at::conv2d(input, weight.contiguous(), {}, 1, {kernel.first / 2, kernel.second / 2}, 1,
                    x.size(1))
      .contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace vmlp_mm
