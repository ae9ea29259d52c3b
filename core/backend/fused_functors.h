// The activations a fused bias + activation kernel supports, mapped to their shared functors
// (core/math/fused.h over core/math/activations.h): with_bias_act(op, f) calls
// f(BiasAct<Fwd>{}, BiasActGrad<Grad>{}). Only activations whose derivative is a function of
// the input qualify (GELU tanh/erf, ReLU), since the fused backward recomputes h + b.
#pragma once
#include "core/backend/backend.h"
#include "core/math/activations.h"
#include "core/math/fused.h"

namespace st {

template <class F>
void with_bias_act(UnaryOp op, F&& f) {
  switch (op) {
    case UnaryOp::GeluTanh: return f(BiasAct<GeluTanh>{}, BiasActGrad<GeluTanhGrad>{});
    case UnaryOp::GeluErf: return f(BiasAct<GeluErf>{}, BiasActGrad<GeluErfGrad>{});
    case UnaryOp::Relu: return f(BiasAct<Relu>{}, BiasActGrad<ReluGrad>{});
    default: break;
  }
  ST_THROW("bias_act: activation ", static_cast<int>(op),
           " is not supported (GELU tanh, GELU erf or ReLU)");
}

}  // namespace st
