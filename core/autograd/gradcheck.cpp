// Central-difference gradient check; see gradcheck.h.
#include "core/autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "core/ops/ops.h"

namespace st {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  for (const Tensor& x : inputs) {
    ST_CHECK(x.dtype() == DType::F64 && x.device().is_cpu() && x.is_contiguous() && x.is_leaf(),
             "gradcheck: inputs must be contiguous f64 CPU leaves, got ", x.dtype(), " ",
             x.shape());
  }
  Tensor probe;
  {
    NoGradGuard ng;
    probe = f(inputs);
  }
  Tensor w = Tensor::randn(probe.shape(), opt.seed, 1.0, DType::F64);
  auto objective = [&]() {
    NoGradGuard ng;
    return sum_all(mul(f(inputs), w)).item();
  };

  for (const Tensor& x : inputs) {
    Tensor xx = x;
    if (x.requires_grad()) xx.zero_grad();
  }
  sum_all(mul(f(inputs), w)).backward();

  GradcheckResult res;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    Tensor g = x.grad();
    std::vector<double> analytic =
        g.defined() ? g.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double saved = p[i];
      p[i] = saved + opt.eps;
      double up = objective();
      p[i] = saved - opt.eps;
      double down = objective();
      p[i] = saved;
      double numeric = (up - down) / (2 * opt.eps);
      double err = std::fabs(analytic[i] - numeric);
      double rel = err / std::max(std::fabs(numeric), 1e-12);
      res.max_abs_error = std::max(res.max_abs_error, err);
      if (err > opt.atol) res.max_rel_error = std::max(res.max_rel_error, rel);
      if (res.ok && err > opt.atol + opt.rtol * std::fabs(numeric)) {
        res.ok = false;
        std::ostringstream os;
        os << "input " << k << " " << x.shape() << " element " << i << ": analytic "
           << analytic[i] << " vs numeric " << numeric;
        res.message = os.str();
      }
    }
  }
  return res;
}

}  // namespace st
