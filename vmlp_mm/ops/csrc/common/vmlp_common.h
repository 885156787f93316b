// Shared by every op's CPU and CUDA code.
#pragma once

// Functions that the CPU kernels and the CUDA kernels both call.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define VMLP_HOST_DEVICE __host__ __device__
#else
#define VMLP_HOST_DEVICE
#endif
