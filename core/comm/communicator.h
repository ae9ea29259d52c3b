// Communicator: the collective-communication interface that core ops call (so SimpleTRON
// attention can take the sequence-parallel group as an argument) and distributed/ implements
// with MPI (host buffers) and NCCL (device buffers); LocalCommunicator is the size-1 case.
// Tensors passed in are contiguous; in-place calls overwrite their argument (=).
// An implementation that lacks a call fails with "communicator <name> does not support <call>".
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/tensor/tensor.h"

namespace st {

// A pending asynchronous operation; wait() blocks until it completes (and rethrows its error).
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  virtual bool test() = 0;  // true when complete (non-blocking)
};

// For the destructor of a Work that may still be in flight: waits for it (its buffers must
// outlive the transfer) and never throws. A destructor can run while another exception unwinds,
// where a second throw ends the process in std::terminate; so a failure here is printed to
// stderr, naming `what`, and left to the error already propagating, or to the next collective.
void finish_quietly(Work& work, const char* what) noexcept;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "local", "mpi", "nccl"

  // x := sum over ranks of x.
  virtual void all_reduce_sum(const Tensor& x) = 0;
  virtual std::unique_ptr<Work> all_reduce_sum_async(const Tensor& x) = 0;
  // out (size, ...x.shape) := every rank's x, in rank order.
  virtual void all_gather(const Tensor& x, const Tensor& out) = 0;
  // out := the sum over ranks of rank r's slice r of x (x: (size * n), out: (n)).
  virtual void reduce_scatter_sum(const Tensor& x, const Tensor& out) = 0;
  // The same, returning before it completes where the backend can (MPI); x and out must stay
  // untouched until wait(). The default runs reduce_scatter_sum and returns a finished Work.
  virtual std::unique_ptr<Work> reduce_scatter_sum_async(const Tensor& x, const Tensor& out);
  virtual void broadcast(const Tensor& x, int root) = 0;
  virtual void send(const Tensor& x, int dest, int tag) = 0;
  virtual void recv(const Tensor& x, int source, int tag) = 0;
  virtual void barrier() = 0;
  // Ranks with equal color form a new communicator, ordered by key.
  virtual std::shared_ptr<Communicator> split(int color, int key) = 0;

  // Bytes this communicator has sent so far (payloads of collectives and sends).
  int64_t bytes_sent() const { return bytes_sent_; }
  void reset_bytes_sent() { bytes_sent_ = 0; }

 protected:
  void count_bytes(int64_t n) { bytes_sent_ += n; }

 private:
  int64_t bytes_sent_ = 0;
};

// Collective: every rank returns root's `text` (the others' arguments are ignored). For
// decisions made once and followed by all (at most 1 MiB).
std::string broadcast_text(Communicator& comm, const std::string& text, int root);

// The size-1 communicator: every collective is the identity.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }
  void all_reduce_sum(const Tensor&) override {}
  std::unique_ptr<Work> all_reduce_sum_async(const Tensor&) override;
  void all_gather(const Tensor& x, const Tensor& out) override;
  void reduce_scatter_sum(const Tensor& x, const Tensor& out) override;
  void broadcast(const Tensor&, int) override {}
  void send(const Tensor&, int, int) override;
  void recv(const Tensor&, int, int) override;
  void barrier() override {}
  std::shared_ptr<Communicator> split(int, int) override;
};

}  // namespace st
