// The per-thread compute precision; see precision.h.
#include "core/ops/precision.h"

#include "core/tensor/error.h"

namespace st {

namespace {
thread_local Precision t_precision = Precision::FP32;
}

Precision compute_precision() { return t_precision; }

const char* precision_name(Precision p) { return kPrecisionNames.name(p); }

Precision parse_precision(const std::string& s) {
  for (const auto& [name, p] : kPrecisionNames.entries)
    if (s == name) return p;
  ST_THROW("precision '", s, "' is not one of ", kPrecisionNames.joined());
}

PrecisionScope::PrecisionScope(Precision p) : previous_(t_precision) { t_precision = p; }
PrecisionScope::~PrecisionScope() { t_precision = previous_; }

}  // namespace st
