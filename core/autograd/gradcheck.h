// Finite-difference gradient check (fp64, CPU). f maps the inputs to any tensor; the check
// compares the backward pass of sum(f(inputs) * W) (W fixed random weights) with central
// differences, element by element of every input that requires grad.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/tensor/tensor.h"

namespace st {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-8;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-6;
  uint64_t seed = 1234;  // for W
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  double max_rel_error = 0;
  std::string message;  // the first mismatch, naming input and element
};

// inputs: contiguous f64 CPU leaves; those with requires_grad are checked.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

}  // namespace st
