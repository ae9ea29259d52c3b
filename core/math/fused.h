// Per-element math of the fused kernels, shared by the CPU and CUDA backends:
//   bias + activation   y = act(h + b)            dh = act'(h + b) dy
//   dropout + residual  y = r + (keep ? x s : 0)  (s = 1 / (1 - p); keep from philox.h)
// Each fused formula rounds exactly as the unfused composition of kernels does: a product that
// the unfused path stores on its own is rounded on its own here too (mul_rn), never contracted
// with the following add into an FMA.
#pragma once
#include "core/math/hd.h"

namespace st {

// a * b rounded to the type before anything else uses it. Device code would contract
// a * b + c into one FMA (nvcc --fmad=true), and so does GCC on the host (-ffp-contract=fast is
// its C++ default): the intrinsic, or on the host an empty asm that hides the product from the
// optimiser, keeps the rounding of a product that an unfused kernel stores.
template <class T>
ST_HD T opaque_on_host(T p) {
#if !defined(__CUDA_ARCH__) && defined(__GNUC__) && defined(__x86_64__)
  __asm__("" : "+x"(p));
#elif !defined(__CUDA_ARCH__) && defined(__GNUC__) && defined(__aarch64__)
  __asm__("" : "+w"(p));
#elif !defined(__CUDA_ARCH__) && defined(__GNUC__)
  __asm__("" : "+m"(p));
#endif
  return p;
}
ST_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return opaque_on_host(a * b);
#endif
}
ST_HD double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return opaque_on_host(a * b);
#endif
}

// y = act(h + b) for a forward functor Act of core/math/activations.h.
template <class Act>
struct BiasAct {
  Act act;
  template <class T> ST_HD T operator()(T h, T b) const { return act(h + b); }
};

// dh = act'(h + b) dy for a derivative functor of core/math/activations.h that takes the
// activation's input (not its output).
template <class ActGrad>
struct BiasActGrad {
  ActGrad grad;
  template <class T> ST_HD T operator()(T h, T b, T dy) const { return grad(h + b, dy); }
};

// residual + dropout(x): the dropped term is x * keep_scale (rounded) or 0, then added.
struct DropoutAdd {
  template <class T> ST_HD T operator()(T x, T residual, bool keep, T keep_scale) const {
    return residual + (keep ? mul_rn(x, keep_scale) : T(0));
  }
};

// The term of a sum of squares: x^2 rounded to x's type (as mul(x, x) stores it).
struct SquareTerm {
  template <class T> ST_HD double operator()(T x) const { return static_cast<double>(mul_rn(x, x)); }
};

}  // namespace st
