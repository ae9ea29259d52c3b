// A watchdog for reads that never return. HDF5 parses a file's metadata itself, and a damaged or
// crafted file can make it loop forever: HDF5 1.10 spins on a global heap collection whose
// free-space object has size 0, which is what a string attribute cut short by zeros looks like.
// Nothing can interrupt a call inside the library and carry on, so a watchdog thread ends the
// process with an error naming the file when one read has not returned after the limit:
// ST_HDF5_READ_LIMIT seconds (default 300; 0: no watchdog). Exit status 65 (EX_DATAERR), as
// for any other data error; under mpirun the job then ends.
#pragma once
#include <cstdint>
#include <string>

namespace st::h5 {

// Held for the duration of a read of `path` (data/h5.cpp holds one in every reading method, under
// the HDF5 lock, so at most one is armed at a time); nested watches keep the outermost's start.
class ReadWatch {
 public:
  explicit ReadWatch(const std::string& path);
  ~ReadWatch();
  ReadWatch(const ReadWatch&) = delete;
  ReadWatch& operator=(const ReadWatch&) = delete;

 private:
  bool outermost_ = false;
};

// The limit in seconds from ST_HDF5_READ_LIMIT (read once); 0 when the watchdog is off.
int64_t read_limit_seconds();

}  // namespace st::h5
