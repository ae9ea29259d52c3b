// The MPI communicator's failures under mpirun with 2 ranks: a failed MPI call is an Error naming
// the rank and the call (never a crash or a silent result), and an asynchronous collective that
// is discarded while an exception unwinds still completes (its buffer stays valid) without
// throwing from its destructor.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "distributed/mpi_communicator.h"
#include "tests/support/mpi_gtest.h"

namespace st {
namespace {

TEST(MpiCommunicator, TruncatedReceiveIsAnErrorNamingRankAndCall) {
  auto world = MpiCommunicator::world(/*timeout_seconds=*/60);
  ASSERT_EQ(world->size(), 2) << "run with mpirun -np 2";
  if (world->rank() == 0) {
    world->send(Tensor::ones({8}), 1, /*tag=*/5);  // 8 values to a buffer of 4
  } else {
    Tensor small = Tensor::zeros({4});
    try {
      world->recv(small, 0, /*tag=*/5);
      ADD_FAILURE() << "a receive of 8 values into 4 must fail";
    } catch (const Error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("rank 1: MPI recv failed"), std::string::npos) << what;
    }
  }
  world->barrier();
}

TEST(MpiCommunicator, AsyncAllReduceDiscardedDuringAnExceptionCompletes) {
  auto world = MpiCommunicator::world(/*timeout_seconds=*/60);
  Tensor x = Tensor::full({5}, world->rank() + 1.0, DType::F32);
  try {
    std::unique_ptr<Work> work = world->all_reduce_sum_async(x);
    throw std::runtime_error("an error on the way out");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "an error on the way out");
  }
  for (float v : x.to_vector<float>()) EXPECT_EQ(v, 3.0f);  // 1 + 2: the reduction finished
}

}  // namespace
}  // namespace st

int main(int argc, char** argv) {
  st::MpiEnvironment env(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return st::testing::run_all_tests_on_every_rank();
}
