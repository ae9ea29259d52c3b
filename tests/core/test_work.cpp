// Pending communication (Work): finish_quietly, which every Work destructor uses, waits for the
// work and never throws, so a failing collective discarded while another exception unwinds
// reports its error instead of ending the process in std::terminate.
#include <gtest/gtest.h>

#include <string>

#include "core/comm/communicator.h"
#include "core/tensor/error.h"

namespace st {
namespace {

// A Work whose completion fails, as an MPI request does when a peer's message is truncated.
class FailingWork final : public Work {
 public:
  explicit FailingWork(int* waits) : waits_(waits) {}
  void wait() override {
    ++*waits_;
    ST_THROW("rank 0: MPI all_reduce failed: message truncated");
  }
  bool test() override { return false; }
  ~FailingWork() override { finish_quietly(*this, "all_reduce"); }

 private:
  int* waits_;
};

TEST(Work, FailingWorkDiscardedDuringAnExceptionReportsAndKeepsThatException) {
  int waits = 0;
  testing::internal::CaptureStderr();
  try {
    FailingWork work(&waits);
    ST_THROW("the error that is already propagating");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already propagating"), std::string::npos) << e.what();
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(waits, 1) << "the destructor must wait for work in flight (its buffers are still in use)";
  EXPECT_NE(err.find("MPI all_reduce failed: message truncated (while discarding an unfinished all_reduce)"),
            std::string::npos)
      << err;
}

TEST(Work, FailingWorkDiscardedNormallyDoesNotThrow) {
  int waits = 0;
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW({ FailingWork work(&waits); });
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(waits, 1);
}

}  // namespace
}  // namespace st
