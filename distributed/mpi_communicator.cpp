// MPI communicator and environment; see mpi_communicator.h.
#include "distributed/mpi_communicator.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "distributed/exit_codes.h"

namespace st {

void check_mpi(int rc, int rank, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  ST_THROW("rank ", rank, ": MPI ", call, " failed: ", std::string(msg, len));
}

MpiEnvironment::MpiEnvironment(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  }
}

MpiEnvironment::~MpiEnvironment() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

int MpiEnvironment::local_rank() {
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int r = 0;
  MPI_Comm_rank(node, &r);
  MPI_Comm_free(&node);
  return r;
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, double timeout_seconds) : timeout_(timeout_seconds) {
  ST_CHECK(timeout_seconds > 0, "distributed.timeout_seconds: must be positive, got ", timeout_seconds);
  MPI_Comm_dup(comm, &comm_);
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::shared_ptr<MpiCommunicator> MpiCommunicator::world(double timeout_seconds) {
  return std::make_shared<MpiCommunicator>(MPI_COMM_WORLD, timeout_seconds);
}

MPI_Datatype MpiCommunicator::datatype(const Tensor& x, const char* call) const {
  ST_CHECK(x.device().is_cpu(), "communicator mpi does not support device tensors (", call, " on ",
           x.device(), "); use the nccl communicator");
  ST_CHECK(x.is_contiguous(), "communicator mpi: ", call, " needs a contiguous tensor, got ", x.shape());
  switch (x.dtype()) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I32: return MPI_INT;
    case DType::BF16: break;
  }
  ST_THROW("communicator mpi does not support ", x.dtype(), " tensors (", call, ")");
}

void MpiCommunicator::wait(MPI_Request& req, const char* call, int64_t bytes) const {
  auto start = std::chrono::steady_clock::now();
  int done = 0;
  int spins = 0;
  while (true) {
    check_mpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), rank_, call);
    if (done) return;
    if (++spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited > timeout_) {
      int world_rank = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
      std::fprintf(stderr,
                   "rank %d: collective %s (%lld bytes, communicator of %d ranks, rank %d in it) did "
                   "not complete within %.0f s; another rank is missing or stuck. Aborting the job.\n",
                   world_rank, call, static_cast<long long>(bytes), size_, rank_, timeout_);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, kExitCollectiveTimeout);
    }
  }
}

class MpiWork final : public Work {
 public:
  MpiWork(const MpiCommunicator* c, MPI_Request r, const char* call, int64_t bytes, Tensor keep)
      : comm_(c), req_(r), call_(call), bytes_(bytes), keep_(std::move(keep)) {}
  void wait() override {
    if (!done_) comm_->wait(req_, call_, bytes_);
    done_ = true;
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE), comm_->rank(), call_);
    done_ = flag != 0;
    return done_;
  }
  ~MpiWork() override {
    if (!done_) finish_quietly(*this, call_);
  }

 private:
  const MpiCommunicator* comm_;
  MPI_Request req_;
  const char* call_;
  int64_t bytes_;
  Tensor keep_;  // keeps the buffer alive while in flight
  bool done_ = false;
};

namespace {
int64_t bytes_of(const Tensor& x) { return x.numel() * static_cast<int64_t>(dtype_size(x.dtype())); }
int count_of(const Tensor& x, const char* call) {
  ST_CHECK(x.numel() <= INT32_MAX, "communicator mpi: ", call, " of ", x.numel(),
           " elements exceeds MPI's int count");
  return static_cast<int>(x.numel());
}
}  // namespace

void MpiCommunicator::all_reduce_sum(const Tensor& x) { all_reduce_sum_async(x)->wait(); }

std::unique_ptr<Work> MpiCommunicator::all_reduce_sum_async(const Tensor& x) {
  MPI_Datatype t = datatype(x, "all_reduce");
  MPI_Request req;
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, x.raw_data(), count_of(x, "all_reduce"), t, MPI_SUM, comm_, &req),
            rank_, "all_reduce");
  count_bytes(bytes_of(x));
  return std::make_unique<MpiWork>(this, req, "all_reduce", bytes_of(x), x);
}

void MpiCommunicator::all_gather(const Tensor& x, const Tensor& out) {
  MPI_Datatype t = datatype(x, "all_gather");
  datatype(out, "all_gather");
  ST_CHECK(out.numel() == x.numel() * size_ && out.dtype() == x.dtype(), "all_gather: output ",
           out.shape(), " does not hold ", size_, " x ", x.shape());
  MPI_Request req;
  int n = count_of(x, "all_gather");
  check_mpi(MPI_Iallgather(x.raw_data(), n, t, out.raw_data(), n, t, comm_, &req), rank_, "all_gather");
  count_bytes(bytes_of(x));
  wait(req, "all_gather", bytes_of(x));
}

void MpiCommunicator::reduce_scatter_sum(const Tensor& x, const Tensor& out) {
  reduce_scatter_sum_async(x, out)->wait();
}

std::unique_ptr<Work> MpiCommunicator::reduce_scatter_sum_async(const Tensor& x, const Tensor& out) {
  MPI_Datatype t = datatype(x, "reduce_scatter");
  datatype(out, "reduce_scatter");
  ST_CHECK(x.numel() == out.numel() * size_ && out.dtype() == x.dtype(), "reduce_scatter: input ",
           x.shape(), " is not ", size_, " x output ", out.shape());
  MPI_Request req;
  check_mpi(MPI_Ireduce_scatter_block(x.raw_data(), out.raw_data(), count_of(out, "reduce_scatter"), t,
                                      MPI_SUM, comm_, &req),
            rank_, "reduce_scatter");
  count_bytes(bytes_of(x));
  // Keeps the input alive; the output is the caller's to keep until wait().
  return std::make_unique<MpiWork>(this, req, "reduce_scatter", bytes_of(x), x);
}

void MpiCommunicator::broadcast(const Tensor& x, int root) {
  MPI_Datatype t = datatype(x, "broadcast");
  ST_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " outside [0, ", size_, ")");
  MPI_Request req;
  check_mpi(MPI_Ibcast(x.raw_data(), count_of(x, "broadcast"), t, root, comm_, &req), rank_, "broadcast");
  if (rank_ == root) count_bytes(bytes_of(x));
  wait(req, "broadcast", bytes_of(x));
}

void MpiCommunicator::send(const Tensor& x, int dest, int tag) {
  MPI_Datatype t = datatype(x, "send");
  MPI_Request req;
  check_mpi(MPI_Isend(x.raw_data(), count_of(x, "send"), t, dest, tag, comm_, &req), rank_, "send");
  count_bytes(bytes_of(x));
  wait(req, "send", bytes_of(x));
}

void MpiCommunicator::recv(const Tensor& x, int source, int tag) {
  MPI_Datatype t = datatype(x, "recv");
  MPI_Request req;
  check_mpi(MPI_Irecv(x.raw_data(), count_of(x, "recv"), t, source, tag, comm_, &req), rank_, "recv");
  wait(req, "recv", bytes_of(x));
}

void MpiCommunicator::barrier() {
  MPI_Request req;
  check_mpi(MPI_Ibarrier(comm_, &req), rank_, "barrier");
  wait(req, "barrier", 0);
}

std::shared_ptr<Communicator> MpiCommunicator::split(int color, int key) {
  MPI_Comm sub;
  check_mpi(MPI_Comm_split(comm_, color, key, &sub), rank_, "split");
  auto c = std::make_shared<MpiCommunicator>(sub, timeout_);
  MPI_Comm_free(&sub);
  return c;
}

}  // namespace st
