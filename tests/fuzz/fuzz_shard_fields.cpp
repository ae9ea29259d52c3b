// Fuzz target: a shard that HDF5 reads correctly but whose contents are hostile. The input is
// decoded (InputReader) into the root attributes (each absent, an integer, an unsigned integer,
// a float, a variable- or fixed-length string, or an array of them, with boundary values) and
// the datasets /inputs, /inputs2 and /labels (absent or present; int32, int64, uint32, int8 or
// float32; rank 1 to 3; contiguous, compact, chunked, compressed or stored in /dev/zero; a
// claimed extent beyond the rows written). The file is written with the HDF5 library, then
// read as in fuzz_shard (shard_reading.h). fuzz_shard mutates file
// bytes and so mostly exercises the HDF5 library's own parser; here every input is a well-formed
// file, and what is tested is our handling of what it says.
#include <hdf5.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "data/shard.h"
#include "tests/fuzz/fuzz_input_reader.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/shard_reading.h"

namespace {

using st::fuzz::InputReader;

const int64_t kInts[] = {0, 1, 2, 5, 16, -1, -6, (int64_t{1} << 31) - 1, int64_t{1} << 31, int64_t{1} << 30,
                         int64_t{1} << 62, std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max()};
const int32_t kIds[] = {0, 1, 2, 3, -1, 4, 5, std::numeric_limits<int32_t>::max(),
                        std::numeric_limits<int32_t>::min()};

// An attribute of the root group. An input of zeros writes the valid value (format name,
// version 1, vocab_size 16, num_classes 2, seq_len 4, a short vocabulary), so that mutations
// start from a shard that opens.
void write_attribute(hid_t file, const std::string& name, InputReader& in) {
  const bool is_string = name == "format" || name == "task" || name == "vocabulary";
  int64_t valid_int = name == "version" ? 1 : name == "vocab_size" ? 16 : name == "num_classes" ? 2 : 4;
  hid_t scalar = H5Screate(H5S_SCALAR);
  hsize_t three = 3;
  hid_t array = H5Screate_simple(1, &three, nullptr);
  hid_t space = in.pick(8) == 7 ? array : scalar;  // mostly scalars
  uint32_t kind = in.pick(6);  // 0: the valid kind
  if (kind == 0) kind = is_string ? 4 : 1;
  hid_t a = -1;
  switch (kind) {
    case 5: break;  // absent
    case 1: {
      int64_t v[3] = {in.flip() ? in.value(kInts) : valid_int, in.value(kInts), 7};
      a = H5Acreate2(file, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT64, v);
      break;
    }
    case 2: {
      uint64_t v[3] = {in.take<uint64_t>(), std::numeric_limits<uint64_t>::max(), 1};
      a = H5Acreate2(file, name.c_str(), H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_UINT64, v);
      break;
    }
    case 3: {
      double v[3] = {static_cast<double>(in.value(kInts)), 0.5, -1e300};
      a = H5Acreate2(file, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_DOUBLE, v);
      break;
    }
    default: {  // a string: the valid one, a JSON-looking vocabulary, or raw bytes
      std::string text = name == "format" ? st::kShardFormat : name == "task" ? "listops" : "";
      if (name == "vocabulary") text = "[\"<pad>\", \"a\", \"b\", \"c\"]";
      switch (in.pick(4)) {
        case 0: break;
        case 1: text = "[\"<pad>\", \"a\", " + in.text(64) + "]"; break;
        case 2: text = in.text(16) + text; break;
        default: text = in.text(256); break;
      }
      const char* v[3] = {text.c_str(), "x", ""};
      hid_t type = H5Tcopy(H5T_C_S1);
      bool fixed = in.flip();
      H5Tset_size(type, fixed ? text.size() + 1 : H5T_VARIABLE);
      a = H5Acreate2(file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
      if (!fixed) {
        H5Awrite(a, type, v);
      } else {
        std::vector<char> bytes(3 * (text.size() + 1), 0);
        std::copy(text.begin(), text.end(), bytes.begin());
        H5Awrite(a, type, bytes.data());
      }
      H5Tclose(type);
      break;
    }
  }
  if (a >= 0) H5Aclose(a);
  H5Sclose(scalar);
  H5Sclose(array);
}

void write_dataset(hid_t file, const char* name, InputReader& in) {
  if (in.pick(6) == 5) return;  // absent
  // Zeros: the valid shape, 3 examples of seq_len 4 (labels: 3).
  const bool labels = std::string(name) == "labels";
  const int rank = in.pick(4) == 3 ? 1 + static_cast<int>(in.pick(3)) : labels ? 1 : 2;
  hsize_t dims[3] = {3, 4, 2}, written[3];
  for (int i = 0; i < 3; ++i) {
    if (in.pick(4) == 3) dims[i] = in.pick(9);
    written[i] = dims[i];
  }
  const hid_t types[] = {H5T_STD_I32LE, H5T_STD_I64LE, H5T_STD_U32LE, H5T_STD_I8LE, H5T_IEEE_F32LE};
  hid_t type = types[in.pick(5) == 4 ? in.pick(5) : 0];  // mostly int32
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  switch (in.pick(6)) {
    case 0: break;  // contiguous (zeros)
    case 1: H5Pset_layout(dcpl, H5D_COMPACT); break;
    case 2: H5Pset_external(dcpl, "/dev/zero", 0, 1 << 20); break;
    default: {  // chunked, maybe compressed, maybe claiming rows that are never written
      hsize_t chunk[3];
      for (int i = 0; i < 3; ++i) chunk[i] = 1 + in.pick(4);
      H5Pset_chunk(dcpl, rank, chunk);
      if (in.flip()) H5Pset_deflate(dcpl, 1);
      if (in.pick(3) == 2) dims[0] = static_cast<hsize_t>(in.value(kInts) & ((int64_t{1} << 40) - 1)) + 1;
      break;
    }
  }
  hid_t space = H5Screate_simple(rank, dims, nullptr);
  hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (ds >= 0) {
    size_t n = 1;
    for (int i = 0; i < rank; ++i) n *= std::min(written[i], dims[i]);
    std::vector<int32_t> values(n);
    for (auto& v : values) v = in.value(kIds);
    hsize_t start[3] = {0, 0, 0}, count[3];
    for (int i = 0; i < rank; ++i) count[i] = std::min(written[i], dims[i]);
    hid_t mem = H5Screate_simple(rank, count, nullptr);
    if (n > 0 && H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr) >= 0)
      H5Dwrite(ds, H5T_NATIVE_INT32, mem, space, H5P_DEFAULT, values.data());
    H5Sclose(mem);
    H5Dclose(ds);
  }
  H5Sclose(space);
  H5Pclose(dcpl);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InputReader in(data, size);
  std::string path = st::fuzz::Scratch::get().dir() + "/fields.h5";
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // writes the fuzzer asks for may fail: fine
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) return 0;
  for (const char* name : {"format", "version", "task", "vocab_size", "num_classes", "seq_len", "vocabulary"})
    write_attribute(file, name, in);
  for (const char* name : {"inputs", "labels", "inputs2"}) write_dataset(file, name, in);
  H5Fclose(file);

  st::fuzz::read_as_shard(path);
  return 0;
}
