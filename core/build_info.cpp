// build_info(): the values cmake/build_info.cmake writes into st_build_info.h at build time.
#include "core/build_info.h"

#include <cstdio>

#include "st_build_info.h"

namespace st {

const BuildInfo& build_info() {
  static const BuildInfo info{ST_BUILD_VERSION, ST_BUILD_COMMIT, ST_BUILD_ISA, ST_BUILD_CUDA,
                              ST_BUILD_CUDA_ARCHS, ST_BUILD_FUSED_ATTENTION, ST_BUILD_COMPILER,
                              ST_BUILD_TYPE, ST_BUILD_NCCL};
  return info;
}

std::string version_text(std::string_view program) {
  const BuildInfo& b = build_info();
  std::string cuda = "CUDA off, cuDNN off, NCCL off";
  if (b.cuda != "off") {
    cuda = "CUDA " + b.cuda;
    std::string_view archs = b.cuda_archs;
    while (!archs.empty()) {
      size_t end = archs.find(';');
      cuda += " sm_";
      cuda += archs.substr(0, end);
      archs = end == std::string_view::npos ? std::string_view{} : archs.substr(end + 1);
    }
    cuda += ", cuDNN fused attention " + b.fused_attention + ", NCCL " + b.nccl;
  }
  std::string text(program);
  text += " " + b.version + " (commit " + b.commit + "; " + b.build_type + "; CPU " + b.isa + "; " + cuda + "; " +
          b.compiler + ")";
  return text;
}

}  // namespace st
