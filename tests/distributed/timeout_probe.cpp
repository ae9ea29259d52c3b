// Started under mpirun with 2 ranks: rank 1 never joins rank 0's all-reduce, so rank 0's
// collective must time out, print which collective and rank, and abort the job.
#include <chrono>
#include <thread>

#include "distributed/mpi_communicator.h"

int main(int argc, char** argv) {
  st::MpiEnvironment env(&argc, &argv);
  auto world = st::MpiCommunicator::world(/*timeout_seconds=*/1.0);
  st::Tensor x = st::Tensor::ones({4});
  if (world->rank() == 0) world->all_reduce_sum(x);
  else std::this_thread::sleep_for(std::chrono::seconds(30));
  return 0;
}
