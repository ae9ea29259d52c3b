// For GoogleTest binaries started under mpirun: runs every test on every rank, prints results
// from rank 0 only, and fails the job when any rank failed. Call after MPI and GoogleTest are
// initialised.
#pragma once
#include <gtest/gtest.h>
#include <mpi.h>

namespace st::testing {

inline int run_all_tests_on_every_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int rc = RUN_ALL_TESTS(), all = 0;
  MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return all;
}

}  // namespace st::testing
