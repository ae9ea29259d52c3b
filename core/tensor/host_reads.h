// Host reads: each time the host waits for tensor data of the compute device (a device-to-host
// copy, `to_vector`, `item`, or a backend call that returns a value such as a sum of squares or
// the position of a bad id). On a GPU every one is a stream synchronisation, so the count per
// training step is what decides whether the step keeps the GPU busy. The CPU backend counts the
// same calls as if it were a device, so the count can be checked on any machine (tests named
// HostReads.*; docs/design.md, "Host reads").
//
// Values that are host data in every run (flags and counters exchanged between ranks, built
// from host values and never on a device) are read with host_values(), which is not counted.
#pragma once
#include <cstdint>
#include <vector>

namespace st {

class Tensor;

int64_t host_read_count();  // since the process started; all threads
void note_host_read();      // one more read (called by the tensor API and the value-returning ops)

// Reads made by a communicator that stages device tensors through host buffers (where ranks
// share a GPU, so NCCL cannot run): counted apart from host_read_count(), since they move data
// between ranks rather than bring values to the host's decisions. Within a StagedReadScope on a
// thread, note_host_read() counts here instead.
int64_t staged_read_count();
class StagedReadScope {
 public:
  StagedReadScope();
  ~StagedReadScope();
  StagedReadScope(const StagedReadScope&) = delete;
  StagedReadScope& operator=(const StagedReadScope&) = delete;

 private:
  bool previous_;
};

// The elements of a contiguous CPU tensor that holds host data (not counted); throws for a
// tensor on another device or not contiguous.
template <class T> std::vector<T> host_values(const Tensor& t);

}  // namespace st
