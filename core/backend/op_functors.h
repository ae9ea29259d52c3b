// The mapping from the backend's op enums to the shared per-element functors (core/math), used by
// both the CPU and the CUDA backend so that an op means the same math everywhere.
// with_unary(op, f) calls f(Functor{}) with the functor of op (likewise for grads and binaries).
#pragma once
#include "core/backend/backend.h"
#include "core/math/activations.h"

namespace st {

struct AddF { template <class T> ST_HD T operator()(T a, T b) const { return a + b; } };
struct SubF { template <class T> ST_HD T operator()(T a, T b) const { return a - b; } };
struct MulF { template <class T> ST_HD T operator()(T a, T b) const { return a * b; } };
struct DivF { template <class T> ST_HD T operator()(T a, T b) const { return a / b; } };

template <class F>
void with_unary(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::GeluTanh: return f(GeluTanh{});
    case UnaryOp::GeluErf: return f(GeluErf{});
    case UnaryOp::Relu: return f(Relu{});
    case UnaryOp::Tanh: return f(Tanh{});
    case UnaryOp::Exp: return f(Exp{});
    case UnaryOp::Log: return f(Log{});
    case UnaryOp::EluPlusOne: return f(EluPlusOne{});
  }
  ST_THROW("unary: unknown op ", static_cast<int>(op));
}

template <class F>
void with_unary_grad(UnaryGradOp op, F&& f) {
  switch (op) {
    case UnaryGradOp::GeluTanh: return f(GeluTanhGrad{});
    case UnaryGradOp::GeluErf: return f(GeluErfGrad{});
    case UnaryGradOp::Relu: return f(ReluGrad{});
    case UnaryGradOp::TanhFromY: return f(TanhGradFromY{});
    case UnaryGradOp::ExpFromY: return f(ExpGradFromY{});
    case UnaryGradOp::Log: return f(LogGrad{});
    case UnaryGradOp::EluPlusOne: return f(EluPlusOneGrad{});
  }
  ST_THROW("unary_grad: unknown op ", static_cast<int>(op));
}

template <class F>
void with_binary(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add: return f(AddF{});
    case BinaryOp::Sub: return f(SubF{});
    case BinaryOp::Mul: return f(MulF{});
    case BinaryOp::Div: return f(DivF{});
  }
  ST_THROW("binary: unknown op ", static_cast<int>(op));
}

}  // namespace st
