#!/usr/bin/env bash
# The portable bundle: one .tar.xz with everything SimpleTRON needs to train, evaluate and run
# its GPU suite on an x86-64 Linux machine that has none of our packages (a cluster's compute
# nodes, an offline GPU machine, no root). docs/install.md describes its layout and use.
#
#   bash scripts/bundle.sh                   portable build in build-portable (no -march=native:
#                                            ST_PORTABLE_ARCH; CUDA sm_80 and sm_90 with the cuDNN
#                                            fused attention when nvcc is found), then pack it
#   bash scripts/bundle.sh --from-build DIR  pack the build in DIR as it is, compiling nothing
#                                            (the bundle tests pack the normal build this way)
# Options: --out FILE (default dist/simpletron-VERSION-linux-x86_64.tar.xz), --level N (xz
# level, default 9), --max-mib N (fail when the file is larger; default 48 for the portable
# bundle, none with --from-build), --keep-stage DIR (also leave the unpacked tree in DIR).
#
# What goes in:
#   bin/            st-env, the launcher, and a link to it per program (st-train, st-eval, ...,
#                   mpirun): each sets the library paths and runs libexec/.../PROGRAM
#   libexec/        the stripped programs, the CUDA test binaries, Open MPI's mpirun and orted
#   lib/            every shared library they need that is not part of the base system, found
#                   by resolving their dependencies (ldd), Open MPI's and PMIx's plugins
#   lib/compat/     libstdc++ and libgcc_s, used only where the machine's are older than needed
#   share/          configs, docs, Slurm examples, the GPU suite's script and fixtures, Open MPI's
#                   help texts, and bundle/ (manifest, library list, the CUDA libraries needed)
# Left out: glibc, the C++ runtime (see lib/compat), zlib, the CUDA driver, and the CUDA
# runtime, cuBLAS, cuDNN, NVRTC and NCCL libraries, which the launcher finds on the machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

from_build=""
out=""
level=9
max_mib=""
keep_stage=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from-build) from_build="${2:?--from-build needs a build directory}"; shift 2 ;;
    --out) out="${2:?--out needs a file name}"; shift 2 ;;
    --level) level="${2:?--level needs a number}"; shift 2 ;;
    --max-mib) max_mib="${2:?--max-mib needs a number}"; shift 2 ;;
    --keep-stage) keep_stage="${2:?--keep-stage needs a directory}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bundle: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$level" =~ ^[0-9]+$ ]] || { echo "bundle: --level must be a number, got '$level'" >&2; exit 2; }
[ -z "$max_mib" ] || [[ "$max_mib" =~ ^[0-9]+$ ]] || { echo "bundle: --max-mib must be a number, got '$max_mib'" >&2; exit 2; }
die() { echo "bundle: error: $*" >&2; exit 1; }
for tool in ldd objdump strip xz tar; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed (bash scripts/setup.sh installs it)"
done

# The programs and the CUDA test binaries the bundle carries (targets with install rules).
programs=(st-train st-eval st-data st-import st-tiny-train st-bench st-bench-attention st-bench-core
          st-bench-dist st-bench-loader)
gpu_tests=(st_cuda_tests st_cuda_op_tests st_cuda_train_tests st_nccl_tests st_cuda_dp_tests
           st_cuda_fused_attention_tests st_device_routing_tests)

# ---- the build -----------------------------------------------------------------------------
if [ -z "$from_build" ]; then
  bash scripts/setup.sh
  build=build-portable
  args=(-S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DST_NATIVE=OFF -DST_BUILD_TESTS=ON
        -DST_BUILD_BENCH=ON -DST_WERROR="${ST_WERROR:-OFF}")
  if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
    args+=(-DST_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="80;90")
    fe_include="$(bash scripts/cudnn_frontend.sh)" ||
      die "the cudnn-frontend headers could not be fetched; the bundle compiles the fused attention in"
    args+=(-DST_CUDNN_FRONTEND_INCLUDE="$fe_include")
  else
    echo "bundle: no CUDA toolkit here: the bundle will be CPU-only (no CUDA test binaries)"
    args+=(-DST_CUDA=OFF)
    gpu_tests=()
  fi
  echo "bundle: configuring $build (portable CPU code: ST_NATIVE=OFF)"
  cmake "${args[@]}" > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
  grep -E "SimpleTRON:" "$build.configure.log" || true
  echo "bundle: compiling the programs and the CUDA tests with ${JOBS:-$(nproc)} jobs"
  cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${programs[@]}" "${gpu_tests[@]}"
  [ -n "$max_mib" ] || max_mib=48
else
  build="$from_build"
  [ -f "$build/CMakeCache.txt" ] || die "$build is not a CMake build directory (no CMakeCache.txt)"
fi

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || die "$build/CMakeCache.txt names no project version"
name="simpletron-$version-linux-x86_64"
mkdir -p dist
out="${out:-dist/$name.tar.xz}"

stage=$(mktemp -d "${TMPDIR:-/tmp}/st-bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
b="$stage/$name"
meta="$b/share/simpletron/bundle"

# ---- programs, docs, configs, the GPU suite (the project's install rules) ---------------------
echo "bundle: installing $build into the bundle (stripped)"
cmake --install "$build" --prefix "$b" --strip >"$stage/install.log" 2>&1 || { cat "$stage/install.log"; exit 1; }
cmake --install "$build" --prefix "$b" --strip --component gpu-tests >>"$stage/install.log" 2>&1 ||
  { cat "$stage/install.log"; exit 1; }
mkdir -p "$b/libexec/simpletron" "$meta" "$b/share/simpletron/scripts"
mv "$b"/bin/* "$b/libexec/simpletron/"
install -m 0755 scripts/bench_gpu.sh "$b/share/simpletron/scripts/"
install -m 0755 scripts/st-env "$b/bin/st-env"

# ---- Open MPI: mpirun, its daemon, plugins, help texts and settings ---------------------------
# Its directories as Open MPI reports them; st-env points OPAL_* and PMIX_* at the copies.
ompi_path() { ompi_info --path "$1" --parsable 2>/dev/null | sed -n "s/^path:$1://p" | head -n 1; }
command -v ompi_info >/dev/null || die "ompi_info not found: Open MPI (openmpi-bin) is needed"
ompi_pkglibdir=$(ompi_path pkglibdir)
ompi_pkgdatadir=$(ompi_path pkgdatadir)
ompi_sysconfdir=$(ompi_path sysconfdir)
ompi_bindir=$(ompi_path bindir)
[ -d "$ompi_pkglibdir" ] || die "Open MPI's plugin directory '$ompi_pkglibdir' (ompi_info --path pkglibdir) does not exist"
mkdir -p "$b/libexec/openmpi" "$b/lib/openmpi" "$b/share/openmpi" "$b/etc/openmpi"
for p in orterun orted ompi_info; do
  [ -x "$ompi_bindir/$p" ] || die "Open MPI's $p is not in $ompi_bindir"
  cp -L "$ompi_bindir/$p" "$b/libexec/openmpi/$p"
done
cp -L "$ompi_pkglibdir"/*.so "$b/lib/openmpi/"
cp -rL "$ompi_pkgdatadir"/. "$b/share/openmpi/"
[ -d "$ompi_sysconfdir" ] && cp -L "$ompi_sysconfdir"/*.conf "$ompi_sysconfdir"/*hostfile* "$b/etc/openmpi/" 2>/dev/null || true

# ---- shared libraries: resolve every binary's and plugin's dependencies ------------------------
# A library is left out when the machine must provide it: glibc and the C++ runtime (the base
# system), zlib, the CUDA driver and the CUDA libraries (st-env finds those on the machine).
is_base() { [[ "$1" =~ ^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|librt|libpthread|libresolv|libutil|libnsl|libanl|libmvec|libBrokenLocale|libz)\.so ]]; }
is_compat() { [[ "$1" =~ ^(libstdc\+\+|libgcc_s)\.so ]]; }
is_cuda() { [[ "$1" =~ ^(libcuda|libcudart|libcublas|libcublasLt|libcudnn|libcudnn_[a-z_]+|libnccl|libnvrtc|libnvrtc-builtins|libnvJitLink|libnvidia-[a-z-]+)\.so ]]; }
is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' \n')" = '177ELF' ]; }

declare -A bundled=() cuda_needed=() compat=()
: > "$stage/objects"
find "$b/libexec" "$b/lib" -type f | while read -r f; do is_elf "$f" && echo "$f"; done > "$stage/objects"
pmix_dir=""
resolve() {  # FILE: copies its non-base dependencies into lib/
  local f="$1" line soname path
  while read -r line; do
    if [[ "$line" =~ ^([^[:space:]]+)[[:space:]]+=\>[[:space:]]+(not[[:space:]]found) ]]; then
      soname="${BASH_REMATCH[1]}"
      is_cuda "$soname" && { [ "$soname" = libcuda.so.1 ] || cuda_needed[$soname]=1; continue; }
      die "${f#$b/} needs $soname, which this machine cannot resolve (ldd: not found)"
    fi
    [[ "$line" =~ ^([^[:space:]]+)[[:space:]]+=\>[[:space:]]+([^[:space:]]+) ]] || continue
    soname="${BASH_REMATCH[1]}"; path="${BASH_REMATCH[2]}"
    if is_base "$soname"; then continue; fi
    if is_compat "$soname"; then compat[$soname]="$path"; continue; fi
    if is_cuda "$soname"; then [ "$soname" = libcuda.so.1 ] || cuda_needed[$soname]=1; continue; fi
    if [ -z "${bundled[$soname]:-}" ]; then
      bundled[$soname]="$(readlink -f "$path")"
      if [[ "$soname" == libpmix.so* ]]; then pmix_dir="$(dirname "${bundled[$soname]}")"; fi
    fi
  done < <(ldd "$f" 2>/dev/null)
  return 0
}
while read -r f; do resolve "$f"; done < "$stage/objects"
# PMIx (Open MPI's process-management library) loads its own plugins from beside itself.
if [ -n "$pmix_dir" ] && [ -d "$pmix_dir/pmix" ]; then
  mkdir -p "$b/lib/pmix" "$b/share/pmix"
  cp -L "$pmix_dir"/pmix/*.so "$b/lib/pmix/"
  [ -d "$pmix_dir/../share/pmix" ] && cp -rL "$pmix_dir/../share/pmix/." "$b/share/pmix/"
  while read -r f; do resolve "$f"; done < <(find "$b/lib/pmix" -name '*.so')
fi
for soname in "${!bundled[@]}"; do
  cp -L "${bundled[$soname]}" "$b/lib/$soname"
  chmod 0755 "$b/lib/$soname"
done
# The bundled libraries' own dependencies are already in ldd's answers (it lists the closure).
mkdir -p "$b/lib/compat"
for soname in "${!compat[@]}"; do cp -L "${compat[$soname]}" "$b/lib/compat/$soname"; done
strip --strip-unneeded "$b"/lib/*.so* "$b"/lib/openmpi/*.so "$b"/libexec/openmpi/* 2>/dev/null || true
[ -d "$b/lib/pmix" ] && strip --strip-unneeded "$b"/lib/pmix/*.so 2>/dev/null || true

# ---- the manifest st-env reads ------------------------------------------------------------------
# The newest glibc and libstdc++ symbol versions any carried file needs.
newest_version() {  # PREFIX: e.g. GLIBC_ -> 2.34
  find "$b/libexec" "$b/lib" -path "$b/lib/compat" -prune -o -type f -print | while read -r f; do
    is_elf "$f" && objdump -T "$f" 2>/dev/null | grep -o "$1[0-9][0-9.]*" || true
  done | sed "s/^$1//" | sort -V | tail -n 1
}
glibc_min=$(newest_version GLIBC_)
glibcxx_min=$(newest_version GLIBCXX_)
git_commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
{
  echo "version=$version"
  echo "commit=$git_commit"
  echo "isa=$(grep -q '^ST_NATIVE:BOOL=OFF' "$build/CMakeCache.txt" && sed -n 's/^ST_PORTABLE_ARCH:STRING=//p' "$build/CMakeCache.txt" || echo native)"
  echo "cuda_architectures=$(sed -n 's/^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=//p' "$build/CMakeCache.txt" | tr ';' ' ')"
  echo "glibc_min=$glibc_min"
  echo "glibcxx_min=$glibcxx_min"
  echo "packed=$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || uname -sr)"
} > "$meta/manifest"
printf '%s\n' "${!cuda_needed[@]}" | sort > "$meta/cuda-libraries.txt"
sed -i '/^$/d' "$meta/cuda-libraries.txt"
for soname in "${!bundled[@]}"; do
  printf '%s\t%s\t%s\n' "$soname" "$(stat -c %s "$b/lib/$soname")" "${bundled[$soname]}"
done | sort > "$meta/libraries.tsv"

# One link per program and per Open MPI command, all to the launcher.
for p in "$b"/libexec/simpletron/* "$b"/libexec/simpletron/tests/*; do
  if [ -f "$p" ]; then ln -s st-env "$b/bin/$(basename "$p")"; fi
done
for p in mpirun mpiexec orterun ompi_info; do ln -s st-env "$b/bin/$p"; done

# ---- pack ------------------------------------------------------------------------------------
echo "bundle: packing $out (xz -$level)"
mkdir -p "$(dirname "$out")"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -cf - "$name" |
  xz -T0 "-$level" -c > "$out.partial"
mv -f "$out.partial" "$out"
[ -n "$keep_stage" ] && { rm -rf "$keep_stage"; mkdir -p "$keep_stage"; cp -a "$b/." "$keep_stage/"; }

# ---- report --------------------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
size=$(stat -c %s "$out")
lib_count=$(wc -l < "$meta/libraries.tsv")
lib_bytes=$(awk -F'\t' '{ s += $2 } END { print s + 0 }' "$meta/libraries.tsv")
echo "bundle: carried libraries: $lib_count, $(mib "$lib_bytes") unpacked"
awk -F'\t' '{ printf "  %-36s %8.1f KiB  %s\n", $1, $2 / 1024, $3 }' "$meta/libraries.tsv"
echo "bundle: Open MPI plugins $(ls "$b/lib/openmpi" | wc -l), PMIx plugins $(ls "$b/lib/pmix" 2>/dev/null | wc -l); lib/compat: $(ls "$b/lib/compat" | tr '\n' ' ')"
cuda_list=$(tr '\n' ' ' < "$meta/cuda-libraries.txt")
echo "bundle: left to the machine: ${cuda_list:-none} - st-env looks in ST_CUDA_LIBS, the CUDA toolkit, the nvidia wheels python3 knows, then the system library path"
echo "bundle: needs glibc >= $glibc_min; libstdc++ with GLIBCXX_$glibcxx_min (else lib/compat's)"
echo "bundle: $out: $(mib "$size") compressed, $(mib "$(du -sb "$b" | cut -f1)") unpacked"
if [ -n "$max_mib" ] && [ "$size" -gt $(( max_mib * 1048576 )) ]; then
  die "$out is $(mib "$size"), over the limit of $max_mib MiB"
fi
