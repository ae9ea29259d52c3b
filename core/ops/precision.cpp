// The per-thread compute precision; see precision.h.
#include "core/ops/precision.h"

#include "core/tensor/error.h"

namespace st {

namespace {
thread_local Precision t_precision = Precision::FP32;
}

Precision compute_precision() { return t_precision; }

const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::FP32;
  if (s == "bf16") return Precision::BF16;
  ST_THROW("precision '", s, "' is not one of fp32, bf16");
}

PrecisionScope::PrecisionScope(Precision p) : previous_(t_precision) { t_precision = p; }
PrecisionScope::~PrecisionScope() { t_precision = previous_; }

}  // namespace st
