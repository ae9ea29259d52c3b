// NCCL communicator, run under mpirun (label cuda): every collective on device tensors matches the
// MPI communicator on the same host data (f32, f64; bf16 all-reduce), and so does bytes_sent.
// Skips when the build has no CUDA or a node has fewer CUDA devices than local ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "tests/support/mpi_gtest.h"
#include "core/backend/backend.h"
#include "core/ops/ops.h"
#include "distributed/mpi_communicator.h"
#include "distributed/nccl/nccl_communicator.h"

namespace st {
namespace {

constexpr double kTimeout = 60.0;
int g_local_rank = 0;
std::string g_skip;  // why the tests skip ("" = they run); the same on every rank

Device dev() { return Device::cuda(g_local_rank); }
Tensor host(const Tensor& t) { return t.to(Device::cpu()).to(DType::F64); }

// Rank-dependent data, so that a wrong rank order or a missing rank shows.
Tensor data(const Shape& shape, int rank, uint64_t seed, DType dtype = DType::F32) {
  return Tensor::randn(shape, seed + 1000 * static_cast<uint64_t>(rank), 1.0).to(dtype);
}

// |got - want| <= tol (|want| + 1), elementwise, on the host in f64.
void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  auto a = host(got).to_vector<double>(), b = host(want).to_vector<double>();
  int bad = 0;
  for (size_t i = 0; i < a.size() && bad < 5; ++i)
    if (!(std::fabs(a[i] - b[i]) <= tol * (std::fabs(b[i]) + 1))) {
      ADD_FAILURE() << what << "[" << i << "]: nccl " << a[i] << " vs mpi " << b[i];
      ++bad;
    }
}

double tol_for(DType t) { return t == DType::F64 ? 1e-12 : 1e-6; }

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_skip.empty()) GTEST_SKIP() << g_skip;
    mpi = MpiCommunicator::world(kTimeout);
    nccl = make_nccl_communicator(*mpi, g_local_rank, kTimeout);
  }
  std::shared_ptr<MpiCommunicator> mpi;
  std::shared_ptr<Communicator> nccl;
};

TEST_F(Nccl, RankSizeAndName) {
  EXPECT_EQ(nccl->rank(), mpi->rank());
  EXPECT_EQ(nccl->size(), mpi->size());
  EXPECT_EQ(nccl->name(), "nccl");
  nccl->barrier();
}

TEST_F(Nccl, AllReduceMatchesMpi) {
  for (DType t : {DType::F32, DType::F64})
    for (int64_t n : {1, 1000, 4097}) {
      Tensor x = data({n}, mpi->rank(), 11, t), want = x.clone();
      mpi->all_reduce_sum(want);
      Tensor got = x.to(dev());
      nccl->all_reduce_sum(got);
      expect_close(got, want, tol_for(t), "all_reduce " + std::to_string(n));
    }
}

TEST_F(Nccl, AllReduceWaitsForPendingCompute) {
  // The input is produced by a kernel still queued on the compute stream, and the result is
  // read by later compute: both must be ordered against the collective's own stream.
  Tensor x = data({1 << 20}, mpi->rank(), 12), want = scale(x, 3.0);
  mpi->all_reduce_sum(want);
  Tensor got = scale(x.to(dev()), 3.0);
  nccl->all_reduce_sum(got);
  expect_close(add_scalar(got, 1.0), add_scalar(want, 1.0), 1e-6, "all_reduce after compute");
}

TEST_F(Nccl, Bf16AllReduceMatchesMpiInF32) {
  // MPI has no bf16: compare with the f32 sum of the same bf16 values, rounded to bf16.
  Tensor x = data({3000}, mpi->rank(), 13, DType::BF16), want = x.to(DType::F32);
  mpi->all_reduce_sum(want);
  Tensor got = x.to(dev());
  nccl->all_reduce_sum(got);
  EXPECT_EQ(got.dtype(), DType::BF16);
  expect_close(got, want.to(DType::BF16), 1e-2, "bf16 all_reduce");  // a bf16 ulp is 2^-8
}

TEST_F(Nccl, AsyncAllReduceMatchesMpi) {
  Tensor a = data({5000}, mpi->rank(), 14), b = data({7, 9}, mpi->rank(), 15, DType::F64);
  Tensor wa = a.clone(), wb = b.clone();
  mpi->all_reduce_sum(wa);
  mpi->all_reduce_sum(wb);
  Tensor da = a.to(dev()), db = b.to(dev());
  auto work_a = nccl->all_reduce_sum_async(da);
  auto work_b = nccl->all_reduce_sum_async(db);
  Tensor busy = scale(Tensor::ones({1 << 20}, DType::F32, dev()), 2.0);  // compute meanwhile
  for (int spin = 0; spin < 1000000 && !work_b->test(); ++spin) {
  }
  work_b->wait();  // a finished work waits no more
  work_a->wait();
  EXPECT_TRUE(work_a->test());
  expect_close(da, wa, 1e-6, "async all_reduce f32");
  expect_close(db, wb, 1e-12, "async all_reduce f64");
  EXPECT_EQ(host(busy).to_vector<double>()[0], 2.0);
}

TEST_F(Nccl, AllGatherMatchesMpi) {
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = data({3, 5}, mpi->rank(), 16, t);
    Tensor want = Tensor::zeros({mpi->size(), 3, 5}, t);
    mpi->all_gather(x, want);
    Tensor got = Tensor::zeros({mpi->size(), 3, 5}, t, dev());
    nccl->all_gather(x.to(dev()), got);
    expect_close(got, want, 0.0, "all_gather");
  }
}

TEST_F(Nccl, ReduceScatterMatchesMpi) {
  for (DType t : {DType::F32, DType::F64}) {
    int64_t n = 257;
    Tensor x = data({mpi->size() * n}, mpi->rank(), 17, t);
    Tensor want = Tensor::zeros({n}, t);
    mpi->reduce_scatter_sum(x, want);
    Tensor got = Tensor::zeros({n}, t, dev());
    nccl->reduce_scatter_sum(x.to(dev()), got);
    expect_close(got, want, tol_for(t), "reduce_scatter");
  }
}

TEST_F(Nccl, BroadcastMatchesMpi) {
  for (DType t : {DType::F32, DType::F64})
    for (int root = 0; root < mpi->size(); ++root) {
      Tensor want = data({100}, mpi->rank(), 18, t);
      Tensor got = want.to(dev());
      mpi->broadcast(want, root);
      nccl->broadcast(got, root);
      expect_close(got, want, 0.0, "broadcast from " + std::to_string(root));
    }
}

TEST_F(Nccl, SendRecvRingMatchesMpi) {
  if (mpi->size() < 2) GTEST_SKIP() << "needs 2 ranks";
  int r = mpi->rank(), p = mpi->size(), next = (r + 1) % p, prev = (r + p - 1) % p;
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = data({4, 33}, r, 19, t);
    Tensor want = Tensor::zeros({4, 33}, t), got = Tensor::zeros({4, 33}, t, dev());
    Tensor dx = x.to(dev());
    // Even ranks send first, odd ranks receive first: no cycle of waiting sends.
    for (bool sending : {r % 2 == 0, r % 2 != 0}) {
      if (sending) {
        mpi->send(x, next, 7);
        nccl->send(dx, next, 7);
      } else {
        mpi->recv(want, prev, 7);
        nccl->recv(got, prev, 7);
      }
    }
    expect_close(got, want, 0.0, "recv from " + std::to_string(prev));
  }
}

TEST_F(Nccl, SplitMatchesMpi) {
  int color = mpi->rank() % 2, key = mpi->size() - mpi->rank();  // reverse order in each group
  auto want_comm = mpi->split(color, key);
  auto got_comm = nccl->split(color, key);
  EXPECT_EQ(got_comm->name(), "nccl");
  EXPECT_EQ(got_comm->rank(), want_comm->rank());
  EXPECT_EQ(got_comm->size(), want_comm->size());
  Tensor x = data({321}, mpi->rank(), 20), want = x.clone();
  want_comm->all_reduce_sum(want);
  Tensor got = x.to(dev());
  got_comm->all_reduce_sum(got);
  expect_close(got, want, 1e-6, "all_reduce in split");
  Tensor gw = Tensor::zeros({want_comm->size(), 321});
  Tensor gg = Tensor::zeros({got_comm->size(), 321}, DType::F32, dev());
  want_comm->all_gather(x, gw);
  got_comm->all_gather(x.to(dev()), gg);
  expect_close(gg, gw, 0.0, "all_gather in split (rank order)");
  got_comm->barrier();
}

TEST_F(Nccl, BytesSentMatchMpi) {
  int r = mpi->rank(), p = mpi->size();
  Tensor x = data({64}, r, 21), g = Tensor::zeros({p, 64}), s = Tensor::zeros({64 / p});
  Tensor dx = x.to(dev()), dg = g.to(dev()), ds = s.to(dev());
  mpi->reset_bytes_sent();
  nccl->reset_bytes_sent();
  auto expect_same = [&](const char* after) {
    EXPECT_EQ(nccl->bytes_sent(), mpi->bytes_sent()) << "after " << after;
  };
  mpi->all_reduce_sum(x);
  nccl->all_reduce_sum(dx);
  expect_same("all_reduce");
  mpi->all_reduce_sum_async(x)->wait();
  nccl->all_reduce_sum_async(dx)->wait();
  expect_same("async all_reduce");
  mpi->all_gather(x, g);
  nccl->all_gather(dx, dg);
  expect_same("all_gather");
  Tensor xs = x.narrow(0, 0, (64 / p) * p).contiguous(), dxs = xs.to(dev());
  mpi->reduce_scatter_sum(xs, s);
  nccl->reduce_scatter_sum(dxs, ds);
  expect_same("reduce_scatter");
  mpi->broadcast(x, 0);
  nccl->broadcast(dx, 0);
  expect_same("broadcast");
  mpi->barrier();
  nccl->barrier();
  expect_same("barrier");
  if (p >= 2 && r == 0) {
    mpi->send(x, 1, 3);
    nccl->send(dx, 1, 3);
  } else if (p >= 2 && r == 1) {
    mpi->recv(x, 0, 3);
    nccl->recv(dx, 0, 3);
  }
  expect_same("send/recv");
  EXPECT_GT(nccl->bytes_sent(), 0);
}

TEST_F(Nccl, HostTensorsAndBadShapesAreClearErrors) {
  Tensor x = Tensor::ones({4});
  try {
    nccl->all_reduce_sum(x);
    ADD_FAILURE() << "a host tensor was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("communicator nccl does not support host tensors (all_reduce on cpu)"),
              std::string::npos)
        << e.what();
  }
  Tensor d = Tensor::ones({4}, DType::F32, dev());
  EXPECT_THROW(nccl->all_gather(d, Tensor::zeros({nccl->size() + 1, 4}, DType::F32, dev())), Error);
  EXPECT_THROW(nccl->broadcast(d, nccl->size()), Error);
  EXPECT_THROW(nccl->all_reduce_sum(Tensor::ones({4, 4}, DType::F32, dev()).transpose(0, 1)), Error);
}

// Runs without a GPU too: bad arguments fail on every rank, before any NCCL call.
TEST(NcclFactory, NonMpiBootstrapOrMissingDeviceIsAClearErrorOnEveryRank) {
  if (!cuda_built()) GTEST_SKIP() << "this build has no CUDA (so no NCCL)";
  LocalCommunicator local;
  EXPECT_THROW(make_nccl_communicator(local, 0, kTimeout), Error);
  auto world = MpiCommunicator::world(kTimeout);
  int missing = cuda_device_count();  // one past this process's last device
  try {
    make_nccl_communicator(*world, missing, kTimeout);
    ADD_FAILURE() << "cuda:" << missing << " was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("asked for cuda:" + std::to_string(missing)), std::string::npos)
        << e.what();
  }
}

TEST(NcclBuild, WithoutCudaTheFactoryExplainsWhy) {
  if (cuda_built()) GTEST_SKIP() << "this build has CUDA";
  auto world = MpiCommunicator::world(kTimeout);
  try {
    make_nccl_communicator(*world, 0, kTimeout);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("this build has no NCCL support"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace st

int main(int argc, char** argv) {
  st::MpiEnvironment env(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int local_size = 1;
  MPI_Comm_rank(node, &st::g_local_rank);
  MPI_Comm_size(node, &local_size);
  MPI_Comm_free(&node);
  // Every rank must take the same decision, or the runners would wait for the skippers.
  int devices = st::cuda_device_count();
  int ok = st::cuda_built() && devices >= local_size ? 1 : 0, all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!st::cuda_built())
    st::g_skip = "this build has no CUDA (so no NCCL)";
  else if (!all_ok)
    st::g_skip = "needs one CUDA device per local rank; rank " + std::to_string(rank) + " sees " +
                 std::to_string(devices) + " device(s) for " + std::to_string(local_size) +
                 " local rank(s)" + (ok ? " (another node has too few)" : "");
  return st::testing::run_all_tests_on_every_rank();
}
