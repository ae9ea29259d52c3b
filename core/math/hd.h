// ST_HD marks per-element math that both the CPU backend (plain C++) and the CUDA backend
// (device code) compile. Everything in core/math is header-only and free of allocation.
#pragma once
#if defined(__CUDACC__)
#define ST_HD __host__ __device__ __forceinline__
#else
#define ST_HD inline
#endif

#include <cmath>

namespace st {
#if !defined(__CUDA_ARCH__)
// On the host, unqualified math calls in ST_HD functors resolve to the std overloads (float
// stays float); in device code they resolve to CUDA's overloads.
using std::cos;
using std::erf;
using std::exp;
using std::log;
using std::pow;
using std::sin;
using std::sqrt;
using std::tanh;
#endif
}  // namespace st
