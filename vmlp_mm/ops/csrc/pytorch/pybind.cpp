// vmlp_mm._ext: the op schemas (torch.ops.vmlp_mm.*) and a small Python module whose import
// loads them. Kernels register themselves per device in cpu/ and cuda/; fake (meta) kernels and
// autograd are registered from Python (vmlp_mm/ops/*.py).
#include <torch/extension.h>
#include <torch/library.h>

TORCH_LIBRARY(vmlp_mm, m) {
  m.def(
      "shift_mix(Tensor x, Tensor weight_lr, Tensor bias_lr, Tensor weight_td, Tensor bias_td, "
      "int[] shifts, int[] kernel_sizes) -> Tensor");
  m.def(
      "shift_mix_backward(Tensor grad_out, Tensor x, Tensor weight_lr, Tensor weight_td, "
      "int[] shifts, int[] kernel_sizes) -> (Tensor, Tensor, Tensor)");
  m.def("depthwise_conv2d(Tensor x, Tensor weight) -> Tensor");
  m.def("depthwise_conv2d_backward(Tensor grad_out, Tensor x, Tensor weight) -> (Tensor, Tensor)");
  m.def("offset_sample(Tensor x, Tensor offset, int axis) -> Tensor");
  m.def(
      "offset_sample_backward(Tensor grad_out, Tensor x, Tensor offset, int axis) -> "
      "(Tensor, Tensor)");
  m.def("positional_mix(Tensor x, Tensor coefficients, int rows, int cols) -> Tensor");
  m.def(
      "positional_mix_backward(Tensor grad_out, Tensor x, Tensor coefficients, int rows, "
      "int cols) -> (Tensor, Tensor)");
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "vmlp_mm C++/CUDA ops; they are used through torch.ops.vmlp_mm";
  m.def("with_cuda", []() {
#ifdef WITH_CUDA
    return true;
#else
    return false;
#endif
  }, "whether the CUDA kernels were compiled in");
}
