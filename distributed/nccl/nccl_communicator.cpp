// NCCL communicator; see nccl_communicator.h. Communicators are nonblocking (config.blocking = 0),
// so no NCCL call blocks the host: a call that answers ncclInProgress, and every enqueued
// collective, is polled (ncclCommGetAsyncError, cudaEventQuery) against the deadline.
#include "distributed/nccl/nccl_communicator.h"

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "core/backend/cuda/cuda_backend.h"
#include "distributed/exit_codes.h"
#include "distributed/mpi_communicator.h"

namespace st {

bool nccl_built() { return true; }

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t bytes_of(const Tensor& x) { return x.numel() * static_cast<int64_t>(dtype_size(x.dtype())); }

std::string nccl_message(ncclResult_t r, ncclComm_t comm) {
  std::string s = ncclGetErrorString(r);
  const char* last = ncclGetLastError(comm);
  if (last && *last) s += std::string(" (") + last + ")";
  return s;
}

// Polling back-off, as in the MPI communicator: spin first, then sleep between polls.
void pause(int& spins) {
  if (++spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

ncclConfig_t nonblocking_config() {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  return config;
}

// Bootstrap over `mpi`: rank 0 makes the unique id and broadcasts it (with its status, so a
// failure there fails every rank), a barrier, then NCCL initialisation starts (nonblocking; the
// communicator's constructor waits for it).
ncclComm_t start_init(MpiCommunicator& mpi, int device) {
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  Tensor msg = Tensor::zeros({1 + static_cast<int64_t>((sizeof(id) + 3) / 4)}, DType::I32);
  int32_t* m = msg.data<int32_t>();
  if (mpi.rank() == 0) {
    ncclResult_t r = ncclGetUniqueId(&id);
    m[0] = static_cast<int32_t>(r);
    if (r == ncclSuccess) std::memcpy(m + 1, &id, sizeof(id));
  }
  mpi.broadcast(msg, 0);
  ST_CHECK(m[0] == ncclSuccess, "communicator nccl: rank 0 could not create the NCCL unique id: ",
           ncclGetErrorString(static_cast<ncclResult_t>(m[0])));
  std::memcpy(&id, m + 1, sizeof(id));
  mpi.barrier();
  cuda::DeviceGuard guard(device);
  ncclConfig_t config = nonblocking_config();
  ncclComm_t comm = nullptr;
  ncclResult_t r = ncclCommInitRankConfig(&comm, mpi.size(), id, mpi.rank(), &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    std::string why = nccl_message(r, comm);
    if (comm) ncclCommAbort(comm);
    ST_THROW("communicator nccl: rank ", mpi.rank(), " of ", mpi.size(), " could not initialise NCCL on cuda:",
             device, ": ", why);
  }
  return comm;
}

// What a wait is for, for its messages.
struct Op {
  const char* call;
  int64_t bytes;
};

class NcclCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm` (possibly still initialising: waits until it is ready).
  NcclCommunicator(std::shared_ptr<MpiCommunicator> mpi, ncclComm_t comm, int device, double timeout_seconds);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "nccl"; }

  void all_reduce_sum(const Tensor& x) override;
  std::unique_ptr<Work> all_reduce_sum_async(const Tensor& x) override;
  void all_gather(const Tensor& x, const Tensor& out) override;
  void reduce_scatter_sum(const Tensor& x, const Tensor& out) override;
  void broadcast(const Tensor& x, int root) override;
  void send(const Tensor& x, int dest, int tag) override;
  void recv(const Tensor& x, int source, int tag) override;
  void barrier() override;
  std::shared_ptr<Communicator> split(int color, int key) override;

  // For NcclWork: waits for `done` (aborting the job on timeout or error); whether it is done.
  void await(cudaEvent_t done, const Op& op) const;
  bool finished(cudaEvent_t done, const Op& op) const;
  // Makes later compute wait for `done`, then returns the event to the pool.
  void release(cudaEvent_t done);

 private:
  ncclDataType_t nccl_type(const Tensor& x, const char* call) const;
  // Enqueues `enqueue` on the NCCL stream after the compute queued so far; returns an event
  // recorded after it (give it back with release()).
  template <class F>
  cudaEvent_t launch(const Op& op, F&& enqueue);
  // launch, then wait on the host, then fence the compute stream.
  template <class F>
  void run(const Op& op, F&& enqueue);
  // Waits out ncclInProgress of the last call (r is its result).
  void settle(ncclResult_t r, const Op& op) const;
  void check_async(const Op& op) const;
  [[noreturn]] void fail(const Op& op, const std::string& why) const;

  std::shared_ptr<MpiCommunicator> mpi_;  // same ranks: bootstraps split communicators
  ncclComm_t comm_ = nullptr;
  int device_;
  int rank_, size_, world_rank_ = 0;
  double timeout_;
  cudaStream_t stream_ = nullptr;   // this communicator's stream
  cudaStream_t compute_ = nullptr;  // the CUDA backend's stream for device_
  cudaEvent_t ready_ = nullptr;     // compute queued before a collective
  std::vector<cudaEvent_t> free_events_;
  Tensor token_;  // one element, all-reduced by barrier()
};

// The work of an empty tensor: nothing to send.
class DoneWork final : public Work {
 public:
  void wait() override {}
  bool test() override { return true; }
};

class NcclWork final : public Work {
 public:
  NcclWork(NcclCommunicator* c, cudaEvent_t done, Op op, Tensor keep)
      : comm_(c), event_(done), op_(op), keep_(std::move(keep)) {}
  void wait() override {
    if (done_) return;
    comm_->await(event_, op_);
    finish();
  }
  bool test() override {
    if (!done_ && comm_->finished(event_, op_)) finish();
    return done_;
  }
  ~NcclWork() override {
    if (!done_) finish_quietly(*this, "nccl collective");
  }

 private:
  void finish() {
    comm_->release(event_);
    done_ = true;
  }
  NcclCommunicator* comm_;
  cudaEvent_t event_;
  Op op_;
  Tensor keep_;  // keeps the buffer alive while in flight
  bool done_ = false;
};

NcclCommunicator::NcclCommunicator(std::shared_ptr<MpiCommunicator> mpi, ncclComm_t comm, int device,
                                   double timeout_seconds)
    : mpi_(std::move(mpi)), comm_(comm), device_(device), rank_(mpi_->rank()), size_(mpi_->size()),
      timeout_(timeout_seconds) {
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_);
  settle(ncclInProgress, {"init", 0});  // aborts the job if it fails or times out
  int nccl_rank = -1, nccl_size = -1, nccl_device = -1;
  ncclCommUserRank(comm_, &nccl_rank);
  ncclCommCount(comm_, &nccl_size);
  ncclCommCuDevice(comm_, &nccl_device);
  if (nccl_rank != rank_ || nccl_size != size_ || nccl_device != device_) {
    ncclCommAbort(comm_);
    ST_THROW("communicator nccl: rank ", rank_, " of ", size_, " on cuda:", device_, " became NCCL rank ",
             nccl_rank, " of ", nccl_size, " on cuda:", nccl_device, " (MPI and NCCL disagree)");
  }
  cuda::DeviceGuard guard(device_);
  compute_ = static_cast<CudaBackend&>(cuda_backend(device_)).stream();
  ST_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  ST_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  token_ = Tensor::zeros({1}, DType::F32, Device::cuda(device_));
}

NcclCommunicator::~NcclCommunicator() {
  // Never throws: finalize (flushes and waits for the peers) with the deadline, else abort.
  int previous = -1;
  cudaGetDevice(&previous);
  cudaSetDevice(device_);
  ncclResult_t state = ncclCommFinalize(comm_);
  auto start = Clock::now();
  int spins = 0;
  while (state == ncclInProgress && seconds_since(start) < timeout_) {
    pause(spins);
    if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) break;
  }
  if (state == ncclSuccess) {
    ncclCommDestroy(comm_);
  } else {
    std::fprintf(stderr,
                 "rank %d: communicator nccl (%d ranks, rank %d in it) did not finalize within %g s "
                 "(%s); aborting it\n",
                 world_rank_, size_, rank_, timeout_, ncclGetErrorString(state));
    ncclCommAbort(comm_);
  }
  for (cudaEvent_t e : free_events_) cudaEventDestroy(e);
  if (ready_) cudaEventDestroy(ready_);
  if (stream_) cudaStreamDestroy(stream_);
  if (previous >= 0) cudaSetDevice(previous);
}

void NcclCommunicator::fail(const Op& op, const std::string& why) const {
  std::fprintf(stderr,
               "rank %d: collective %s (%lld bytes, communicator nccl of %d ranks, rank %d in it, cuda:%d) %s. "
               "Aborting the job.\n",
               world_rank_, op.call, static_cast<long long>(op.bytes), size_, rank_, device_, why.c_str());
  std::fflush(stderr);
  ncclCommAbort(comm_);
  MPI_Abort(MPI_COMM_WORLD, kExitCollectiveTimeout);
  std::abort();  // MPI_Abort does not return
}

void NcclCommunicator::check_async(const Op& op) const {
  ncclResult_t state = ncclSuccess;
  ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
  if (r != ncclSuccess) state = r;
  if (state != ncclSuccess && state != ncclInProgress)
    fail(op, "failed: NCCL error " + nccl_message(state, comm_));
}

void NcclCommunicator::settle(ncclResult_t r, const Op& op) const {
  if (r != ncclInProgress) return;
  auto start = Clock::now();
  int spins = 0;
  while (true) {
    ncclResult_t state = ncclSuccess;
    ncclResult_t q = ncclCommGetAsyncError(comm_, &state);
    if (q != ncclSuccess) state = q;
    if (state == ncclSuccess) return;
    if (state != ncclInProgress) fail(op, "failed: NCCL error " + nccl_message(state, comm_));
    pause(spins);
    if (seconds_since(start) > timeout_)
      fail(op, detail::concat("did not complete within ", timeout_, " s; another rank is missing or stuck"));
  }
}

void NcclCommunicator::await(cudaEvent_t done, const Op& op) const {
  auto start = Clock::now();
  int spins = 0;
  while (true) {
    cudaError_t e = cudaEventQuery(done);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady)
      fail(op, detail::concat("failed on the device: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")"));
    check_async(op);
    pause(spins);
    if (seconds_since(start) > timeout_)
      fail(op, detail::concat("did not complete within ", timeout_, " s; another rank is missing or stuck"));
  }
}

bool NcclCommunicator::finished(cudaEvent_t done, const Op& op) const {
  cudaError_t e = cudaEventQuery(done);
  if (e == cudaSuccess) return true;
  if (e != cudaErrorNotReady)
    fail(op, detail::concat("failed on the device: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")"));
  check_async(op);
  return false;
}

void NcclCommunicator::release(cudaEvent_t done) {
  cuda::DeviceGuard guard(device_);
  ST_CUDA_CHECK(cudaStreamWaitEvent(compute_, done, 0));
  free_events_.push_back(done);
}

ncclDataType_t NcclCommunicator::nccl_type(const Tensor& x, const char* call) const {
  ST_CHECK(x.defined(), "communicator nccl: ", call, " of an undefined tensor");
  ST_CHECK(x.device().is_cuda(), "communicator nccl does not support host tensors (", call, " on ", x.device(),
           "); use the mpi communicator");
  ST_CHECK(x.device().index == device_, "communicator nccl: ", call, " of a tensor on ", x.device(), ", but rank ",
           rank_, " of this communicator uses cuda:", device_);
  ST_CHECK(x.is_contiguous(), "communicator nccl: ", call, " needs a contiguous tensor, got ", x.shape());
  switch (x.dtype()) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::BF16: return ncclBfloat16;
    case DType::I32: return ncclInt32;
  }
  ST_THROW("communicator nccl does not support ", x.dtype(), " tensors (", call, ")");
}

template <class F>
cudaEvent_t NcclCommunicator::launch(const Op& op, F&& enqueue) {
  cuda::DeviceGuard guard(device_);
  ST_CUDA_CHECK(cudaEventRecord(ready_, compute_));
  ST_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
  ncclResult_t r = enqueue();
  if (r != ncclSuccess && r != ncclInProgress)
    ST_THROW("communicator nccl: rank ", rank_, ": ", op.call, " failed: ", nccl_message(r, comm_));
  settle(r, op);  // the operation is on the stream only once NCCL reports success
  cudaEvent_t done = nullptr;
  if (free_events_.empty()) {
    ST_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  } else {
    done = free_events_.back();
    free_events_.pop_back();
  }
  ST_CUDA_CHECK(cudaEventRecord(done, stream_));
  count_bytes(op.bytes);
  return done;
}

template <class F>
void NcclCommunicator::run(const Op& op, F&& enqueue) {
  cudaEvent_t done = launch(op, std::forward<F>(enqueue));
  await(done, op);
  release(done);
}

void NcclCommunicator::all_reduce_sum(const Tensor& x) { all_reduce_sum_async(x)->wait(); }

std::unique_ptr<Work> NcclCommunicator::all_reduce_sum_async(const Tensor& x) {
  ncclDataType_t t = nccl_type(x, "all_reduce");
  void* p = x.raw_data();
  size_t n = static_cast<size_t>(x.numel());
  if (n == 0) return std::make_unique<DoneWork>();
  cudaEvent_t done = launch({"all_reduce", bytes_of(x)},
                            [&] { return ncclAllReduce(p, p, n, t, ncclSum, comm_, stream_); });
  return std::make_unique<NcclWork>(this, done, Op{"all_reduce", bytes_of(x)}, x);
}

void NcclCommunicator::all_gather(const Tensor& x, const Tensor& out) {
  ncclDataType_t t = nccl_type(x, "all_gather");
  nccl_type(out, "all_gather");
  ST_CHECK(out.numel() == x.numel() * size_ && out.dtype() == x.dtype(), "all_gather: output ", out.shape(), " ",
           out.dtype(), " does not hold ", size_, " x ", x.shape(), " ", x.dtype());
  if (x.numel() == 0) return;
  run({"all_gather", bytes_of(x)}, [&] {
    return ncclAllGather(x.raw_data(), out.raw_data(), static_cast<size_t>(x.numel()), t, comm_, stream_);
  });
}

void NcclCommunicator::reduce_scatter_sum(const Tensor& x, const Tensor& out) {
  ncclDataType_t t = nccl_type(x, "reduce_scatter");
  nccl_type(out, "reduce_scatter");
  ST_CHECK(x.numel() == out.numel() * size_ && out.dtype() == x.dtype(), "reduce_scatter: input ", x.shape(), " ",
           x.dtype(), " is not ", size_, " x output ", out.shape(), " ", out.dtype());
  if (out.numel() == 0) return;
  run({"reduce_scatter", bytes_of(x)}, [&] {
    return ncclReduceScatter(x.raw_data(), out.raw_data(), static_cast<size_t>(out.numel()), t, ncclSum, comm_,
                             stream_);
  });
}

void NcclCommunicator::broadcast(const Tensor& x, int root) {
  ncclDataType_t t = nccl_type(x, "broadcast");
  ST_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " outside [0, ", size_, ")");
  if (x.numel() == 0) return;
  void* p = x.raw_data();
  run({"broadcast", rank_ == root ? bytes_of(x) : 0},
      [&] { return ncclBroadcast(p, p, static_cast<size_t>(x.numel()), t, root, comm_, stream_); });
}

void NcclCommunicator::send(const Tensor& x, int dest, int /*tag: NCCL has none*/) {
  ncclDataType_t t = nccl_type(x, "send");
  ST_CHECK(dest >= 0 && dest < size_ && dest != rank_, "communicator nccl: rank ", rank_, " cannot send to rank ",
           dest, " (ranks 0..", size_ - 1, ", not itself)");
  if (x.numel() == 0) return;
  run({"send", bytes_of(x)},
      [&] { return ncclSend(x.raw_data(), static_cast<size_t>(x.numel()), t, dest, comm_, stream_); });
}

void NcclCommunicator::recv(const Tensor& x, int source, int /*tag*/) {
  ncclDataType_t t = nccl_type(x, "recv");
  ST_CHECK(source >= 0 && source < size_ && source != rank_, "communicator nccl: rank ", rank_,
           " cannot receive from rank ", source, " (ranks 0..", size_ - 1, ", not itself)");
  if (x.numel() == 0) return;
  run({"recv", 0},
      [&] { return ncclRecv(x.raw_data(), static_cast<size_t>(x.numel()), t, source, comm_, stream_); });
}

void NcclCommunicator::barrier() {
  // A one-element all-reduce, waited for on the host; counts no bytes (as the mpi barrier).
  void* p = token_.raw_data();
  run({"barrier", 0}, [&] { return ncclAllReduce(p, p, 1, ncclFloat32, ncclSum, comm_, stream_); });
}

std::shared_ptr<Communicator> NcclCommunicator::split(int color, int key) {
  ST_CHECK(color >= 0, "communicator nccl: split color must be >= 0, got ", color);
  auto sub_mpi = std::static_pointer_cast<MpiCommunicator>(mpi_->split(color, key));
  ncclComm_t sub = nullptr;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 18, 0)
  {
    cuda::DeviceGuard guard(device_);
    ncclConfig_t config = nonblocking_config();
    ncclResult_t r = ncclCommSplit(comm_, color, key, &sub, &config);
    if (r != ncclSuccess && r != ncclInProgress)
      ST_THROW("communicator nccl: rank ", rank_, ": split (color ", color, ", key ", key,
               ") failed: ", nccl_message(r, comm_));
    settle(r, {"split", 0});  // the new communicator's constructor waits for it to be ready
  }
#else
  sub = start_init(*sub_mpi, device_);
#endif
  return std::make_shared<NcclCommunicator>(std::move(sub_mpi), sub, device_, timeout_);
}

}  // namespace

std::shared_ptr<Communicator> make_nccl_communicator(Communicator& bootstrap, int device, double timeout_seconds) {
  auto* boot = dynamic_cast<MpiCommunicator*>(&bootstrap);
  ST_CHECK(boot, "make_nccl_communicator: the bootstrap communicator must be mpi, got ", bootstrap.name());
  ST_CHECK(timeout_seconds > 0, "distributed.timeout_seconds: must be positive, got ", timeout_seconds);
  auto mpi = std::make_shared<MpiCommunicator>(boot->handle(), timeout_seconds);
  // Every rank checks its device first and learns whether all could, so a bad rank fails the
  // creation everywhere instead of leaving the others waiting in NCCL.
  std::string problem;
  int count = cuda_device_count();
  if (device < 0 || device >= count)
    problem = detail::concat("rank ", mpi->rank(), " asked for cuda:", device, " but ",
                             count == 0 ? std::string("no CUDA device is visible to this process")
                                        : detail::concat("this process sees ", count, " CUDA device(s)"));
  else
    try {
      cuda_backend(device);  // creates the compute stream the collectives fence against
    } catch (const Error& e) {
      problem = detail::concat("rank ", mpi->rank(), " cannot use cuda:", device, ": ", e.what());
    }
  Tensor bad = Tensor::full({1}, problem.empty() ? 0 : 1, DType::I32);
  mpi->all_reduce_sum(bad);
  ST_CHECK(problem.empty(), "make_nccl_communicator: ", problem);
  ST_CHECK(bad.item() == 0, "make_nccl_communicator: ", bad.item(),
           " rank(s) could not use their CUDA device (see their messages)");
  ncclComm_t comm = start_init(*mpi, device);
  auto nccl = std::make_shared<NcclCommunicator>(std::move(mpi), comm, device, timeout_seconds);
  // One collective now, on every rank together: NCCL connects peers lazily at a communicator's
  // first collective, which should not happen while another communicator's work is in flight.
  nccl->barrier();
  return nccl;
}

}  // namespace st
