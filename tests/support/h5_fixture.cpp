// HDF5 C API behind the small fixture reader of h5_fixture.h.
#include "tests/support/h5_fixture.h"

#include <hdf5.h>

#include <cstdlib>
#include <sstream>

namespace st::testing {

H5Fixture::H5Fixture(const std::string& path) : path_(path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ST_CHECK(file_ >= 0, "fixture: cannot open HDF5 file ", path);
}

H5Fixture::~H5Fixture() { H5Fclose(file_); }

bool H5Fixture::has(const std::string& dataset) const {
  return H5Lexists(file_, dataset.c_str(), H5P_DEFAULT) > 0;
}

long long H5Fixture::offset(const std::string& dataset) const {
  hid_t ds = H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT);
  ST_CHECK(ds >= 0, "fixture ", path_, ": no dataset ", dataset);
  haddr_t at = H5Dget_offset(ds);
  H5Dclose(ds);
  ST_CHECK(at != HADDR_UNDEF, "fixture ", path_, ": ", dataset, " is not stored contiguously");
  return static_cast<long long>(at);
}

Tensor H5Fixture::read(const std::string& dataset) const {
  hid_t ds = H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT);
  ST_CHECK(ds >= 0, "fixture ", path_, ": no dataset ", dataset);
  hid_t space = H5Dget_space(ds);
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  Shape shape(dims.begin(), dims.end());
  hid_t type = H5Dget_type(ds);
  bool is_int = H5Tget_class(type) == H5T_INTEGER;
  Tensor t = Tensor::empty(shape, is_int ? DType::I32 : DType::F32);
  herr_t rc = H5Dread(ds, is_int ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                      H5P_DEFAULT, t.raw_data());
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(ds);
  ST_CHECK(rc >= 0, "fixture ", path_, ": cannot read ", dataset);
  return t;
}

std::string H5Fixture::attribute(const std::string& name) const {
  hid_t a = H5Aopen(file_, name.c_str(), H5P_DEFAULT);
  ST_CHECK(a >= 0, "fixture ", path_, ": no attribute ", name);
  hid_t ftype = H5Aget_type(a);
  std::string out;
  if (H5Tis_variable_str(ftype) > 0) {
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(ftype));
    char* buf = nullptr;
    H5Aread(a, mem, &buf);
    if (buf) out = buf;
    H5free_memory(buf);
    H5Tclose(mem);
  } else {
    size_t n = H5Tget_size(ftype);
    std::vector<char> buf(n + 1, 0);
    H5Aread(a, ftype, buf.data());
    out = buf.data();
  }
  H5Tclose(ftype);
  H5Aclose(a);
  return out;
}

std::map<std::string, std::string> H5Fixture::attribute_map(const std::string& name) const {
  std::map<std::string, std::string> out;
  std::stringstream ss(attribute(name));
  std::string item;
  while (std::getline(ss, item, ';')) {
    auto eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

// ST_FIXTURES_DIR in the environment wins: the portable bundle carries the fixtures elsewhere.
std::string fixtures_dir() {
  const char* moved = std::getenv("ST_FIXTURES_DIR");
  return moved && *moved ? moved : ST_FIXTURES_DIR;
}

}  // namespace st::testing
