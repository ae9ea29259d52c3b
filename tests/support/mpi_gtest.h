// For GoogleTest binaries started under mpirun: runs every test on every rank, prints results
// from rank 0 only, and fails the job when any rank failed. Call after MPI and GoogleTest are
// initialised.
#pragma once
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <cstring>

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

// The value of a "--sp=N" argument (the sequence-parallel size a multi-rank test runs with), or
// `fallback` when there is none.
inline int sp_argument(int argc, char** argv, int fallback = 1) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--sp=", 5) == 0) return std::atoi(argv[i] + 5);
  return fallback;
}

}  // namespace st::testing
