// What this build is: version, source commit, CPU instruction set, CUDA architectures. Every
// program's --version prints version_text(); results.json and the run log record the same.
#pragma once

#include <string>
#include <string_view>

namespace st {

struct BuildInfo {
  std::string version;          // project version, e.g. "0.1.0"
  std::string commit;           // git commit of the sources ("-dirty": uncommitted changes)
  std::string isa;              // CPU code: "native" (-march=native) or the portable target
  std::string cuda;             // CUDA toolkit version the build used, or "off"
  std::string cuda_archs;       // e.g. "80;90" (empty without CUDA)
  std::string fused_attention;  // "on" / "off": cuDNN fused softmax attention compiled in
  std::string compiler;
  std::string build_type;       // CMake's build type: "Release", "RelWithDebInfo", ...
  std::string nccl;             // "on" / "off": the NCCL communicator compiled in
};

const BuildInfo& build_info();

// "PROGRAM 0.1.0 (commit 1234abcd5678; Release; CPU x86-64-v2; CUDA 13.0 sm_80 sm_90, cuDNN
// fused attention on, NCCL on; GNU 12.2.0)", without a newline.
std::string version_text(std::string_view program);

}  // namespace st
