// Per-element activation functions and their derivatives, shared by the CPU and CUDA backends.
// Forward functors map x -> y; Grad functors map (x, dy) -> dx (or (y, dy) where noted).
#pragma once
#include <cmath>

#include "core/math/fast_math.h"
#include "core/math/hd.h"

namespace st {

struct GeluTanh {  // 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
  template <class T> ST_HD T operator()(T x) const {
    const T c2 = T(1.5957691216057308), a = T(0.044715);  // 2 sqrt(2/pi)
    T two_u = c2 * (x + a * x * x * x);
    return x / (T(1) + exp_of(-two_u));
  }
};
struct GeluTanhGrad {  // d/dx x s(2u) = s + x s (1 - s) 2u'
  template <class T> ST_HD T operator()(T x, T dy) const {
    const T c2 = T(1.5957691216057308), a = T(0.044715);
    T two_u = c2 * (x + a * x * x * x);
    T s = T(1) / (T(1) + exp_of(-two_u));
    T d_two_u = c2 * (T(1) + T(3) * a * x * x);
    return dy * (s + x * s * (T(1) - s) * d_two_u);
  }
};

struct GeluErf {  // 0.5 x (1 + erf(x / sqrt 2))
  template <class T> ST_HD T operator()(T x) const {
    return T(0.5) * x * (T(1) + erf_of(x * T(0.7071067811865476)));
  }
};
struct GeluErfGrad {
  template <class T> ST_HD T operator()(T x, T dy) const {
    T cdf = T(0.5) * (T(1) + erf_of(x * T(0.7071067811865476)));
    T pdf = T(0.3989422804014327) * exp_of(T(-0.5) * x * x);
    return dy * (cdf + x * pdf);
  }
};

struct Relu {
  template <class T> ST_HD T operator()(T x) const { return x > T(0) ? x : T(0); }
};
struct ReluGrad {
  template <class T> ST_HD T operator()(T x, T dy) const { return x > T(0) ? dy : T(0); }
};

struct Tanh {
  template <class T> ST_HD T operator()(T x) const { return tanh_of(x); }
};
struct TanhGradFromY {  // (y, dy) -> dy (1 - y^2)
  template <class T> ST_HD T operator()(T y, T dy) const { return dy * (T(1) - y * y); }
};

struct Exp {
  template <class T> ST_HD T operator()(T x) const { return exp_of(x); }
};
struct ExpGradFromY {  // (y, dy) -> dy y
  template <class T> ST_HD T operator()(T y, T dy) const { return dy * y; }
};

struct Log {
  template <class T> ST_HD T operator()(T x) const { return log(x); }
};
struct LogGrad {
  template <class T> ST_HD T operator()(T x, T dy) const { return dy / x; }
};

struct EluPlusOne {  // elu(x) + 1: the linear-attention feature map of Katharopoulos et al.
  template <class T> ST_HD T operator()(T x) const { return x > T(0) ? x + T(1) : exp_of(x); }
};
struct EluPlusOneGrad {
  template <class T> ST_HD T operator()(T x, T dy) const { return x > T(0) ? dy : dy * exp_of(x); }
};

}  // namespace st
