// RunContext helpers.
#include "core/nn/context.h"

#include "core/comm/communicator.h"

namespace st {

bool RunContext::sequence_parallel() const { return sp && sp->size() > 1; }
bool RunContext::first_in_sequence() const { return !sequence_parallel() || sp->rank() == 0; }

}  // namespace st
