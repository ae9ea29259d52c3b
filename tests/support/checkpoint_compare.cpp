// st-checkpoint-compare A.h5 B.h5: how far apart the parameters of two checkpoints are. For
// each /params dataset: the largest |a - b| over the largest |a| of that tensor; prints the
// worst tensor and its relative difference, and exits 1 when the files hold other parameters
// (names or sizes). The scripted tests compare runs that should agree to float rounding with it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>

#include "data/h5.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: st-checkpoint-compare A.h5 B.h5\n");
    return 2;
  }
  try {
    st::h5::File a = st::h5::File::open_read(argv[1]), b = st::h5::File::open_read(argv[2]);
    std::vector<std::string> names = a.list("params");
    if (names != b.list("params")) {
      std::fprintf(stderr, "%s and %s hold other parameters\n", argv[1], argv[2]);
      return 1;
    }
    double worst = 0;
    std::string worst_name;
    for (const std::string& name : names) {
      std::vector<float> x = a.read_f32("params/" + name), y = b.read_f32("params/" + name);
      if (x.size() != y.size()) {
        std::fprintf(stderr, "params/%s: %zu values against %zu\n", name.c_str(), x.size(), y.size());
        return 1;
      }
      double scale = 0, diff = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        scale = std::max(scale, std::fabs(double(x[i])));
        diff = std::max(diff, std::fabs(double(x[i]) - double(y[i])));
      }
      double rel = scale > 0 ? diff / scale : diff;
      if (rel >= worst) {
        worst = rel;
        worst_name = name;
      }
    }
    std::printf("%zu parameter tensors; largest relative difference %.3e (params/%s)\n", names.size(), worst,
                worst_name.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
