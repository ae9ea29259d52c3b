// Communicator over MPI on host (CPU) buffers: the CPU default. Every operation is issued
// non-blocking and waited for with a deadline: a collective that does not complete within
// `timeout_seconds` prints which collective, on which rank, and aborts the whole job
// (MPI_Abort) instead of hanging.
#pragma once
#include <mpi.h>

#include "core/comm/communicator.h"

namespace st {

// Initialises MPI on construction (when the process was not already) and finalises it on
// destruction. Works under mpirun, srun (PMIx) and without any launcher (a world of 1).
class MpiEnvironment {
 public:
  MpiEnvironment(int* argc, char*** argv);
  ~MpiEnvironment();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;
  static int local_rank();  // rank among the processes of this node
};

// Throws naming the rank and the call when an MPI call returned an error (communicators with
// the error handler MPI_ERRORS_RETURN report failures as codes instead of aborting).
void check_mpi(int rc, int rank, const char* call);

class MpiCommunicator final : public Communicator {
 public:
  // Wraps comm (duplicated, so this communicator's traffic never mixes with others').
  MpiCommunicator(MPI_Comm comm, double timeout_seconds);
  ~MpiCommunicator() override;
  static std::shared_ptr<MpiCommunicator> world(double timeout_seconds);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  void all_reduce_sum(const Tensor& x) override;
  std::unique_ptr<Work> all_reduce_sum_async(const Tensor& x) override;
  void all_gather(const Tensor& x, const Tensor& out) override;
  void reduce_scatter_sum(const Tensor& x, const Tensor& out) override;
  std::unique_ptr<Work> reduce_scatter_sum_async(const Tensor& x, const Tensor& out) override;
  void broadcast(const Tensor& x, int root) override;
  void send(const Tensor& x, int dest, int tag) override;
  void recv(const Tensor& x, int source, int tag) override;
  void barrier() override;
  std::shared_ptr<Communicator> split(int color, int key) override;

  double timeout_seconds() const { return timeout_; }
  MPI_Comm handle() const { return comm_; }

 private:
  MPI_Datatype datatype(const Tensor& x, const char* call) const;
  // Waits for req, polling; aborts the job after the timeout.
  void wait(MPI_Request& req, const char* call, int64_t bytes) const;
  friend class MpiWork;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_;
};

}  // namespace st
