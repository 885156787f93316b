#!/usr/bin/env bash
# Compile vmlp_mm._ext with its CUDA kernels, in a build folder of its own, and fail on a compiler
# error or on any warning in our sources (the kernels build with none). Needs no GPU, only nvcc
# and a CUDA build of torch (PyPI's is one). CI runs it after the tests; where no nvcc is found it
# says so and exits 0.
#
#   bash tools/check_cuda_build.sh [BUILD_DIR]     (default: build/cuda-check)
#
# Environment:
#   TORCH_CUDA_ARCH_LIST  GPU architectures to compile for (default "8.0;9.0": A100, H100/H200)
#   MAX_JOBS              parallel compiler jobs (default: the number of cores)
#   VMLP_VENV             the environment whose torch the kernels build against (default .venv)
# The build never touches the in-tree extension that the tests load (vmlp_mm/_ext*.so).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$(realpath -m "${1:-$ROOT/build/cuda-check}")
PY=${VMLP_VENV:-$ROOT/.venv}/bin/python
ARCHS=${TORCH_CUDA_ARCH_LIST:-8.0;9.0}
say() { printf '\033[1m[cuda-build]\033[0m %s\n' "$*"; }

if ! command -v nvcc >/dev/null 2>&1; then
  say "no nvcc on PATH: the CUDA kernels were not compiled (install the CUDA toolkit to check them)"
  exit 0
fi
if ! "$PY" -c 'import torch, sys; sys.exit(torch.version.cuda is None)' 2>/dev/null; then
  say "the torch of $PY is not a CUDA build: the CUDA kernels were not compiled"
  exit 0
fi

# torch takes CUDA_HOME from the nvcc on PATH, which may be a wrapper script outside the toolkit
# (here /usr/local/bin/nvcc): ask nvcc where its toolkit is, for the runtime library it links.
if [ -z "${CUDA_HOME:-}" ]; then
  CUDA_HOME=$(realpath "$(nvcc --dryrun -c -x cu /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)")
  export CUDA_HOME
fi

# PyPI's CUDA torch brings the CUDA library headers (cuBLAS, cuSPARSE, ...) that its extension
# headers include; a toolkit without them (nvcc and the runtime alone) finds them there.
site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for cu in "$site"/nvidia/cu*; do
  [ -d "$cu/include" ] && export CPATH="$cu/include${CPATH:+:$CPATH}"
  [ -d "$cu/lib" ] && export LIBRARY_PATH="$cu/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
done

# A fresh build each time: an incremental one compiles only changed sources, so its log could not
# show every source's warnings nor every architecture.
rm -rf "$BUILD_DIR/temp" "$BUILD_DIR/lib"
mkdir -p "$BUILD_DIR"
log="$BUILD_DIR/build.log"
say "$(nvcc --version | tail -n 1); compiling for sm ${ARCHS//;/, } into $BUILD_DIR (log: $log)"
start=$SECONDS
(cd "$ROOT" && FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCHS" MAX_JOBS=${MAX_JOBS:-$(nproc)} \
  "$PY" setup.py -q build_ext --build-temp "$BUILD_DIR/temp" --build-lib "$BUILD_DIR/lib" \
  >"$log" 2>&1)
status=$?
if [ $status -ne 0 ]; then
  grep -E '(fatal error|error)( #[^:]*)?:' "$log" | head -n 40
  say "FAILED: the CUDA build of vmlp_mm._ext stopped with errors (full log: $log)"
  exit 1
fi

# gcc prints `file:line:col: warning:`, nvcc's front end `file(line): warning #...`; only our
# sources count (torch's headers are not ours to fix).
ours=$(grep -E 'vmlp_mm/ops/csrc/[^ :(]+(:[0-9]+|\([0-9]+\)).*warning' "$log" | sort -u)
if [ -n "$ours" ]; then
  printf '%s\n' "$ours"
  say "FAILED: $(printf '%s\n' "$ours" | wc -l) compiler warning(s) in vmlp_mm/ops/csrc (full log: $log)"
  exit 1
fi

# every asked-for architecture was compiled (the toolkit here may lack cuobjdump to list them)
for arch in ${ARCHS//;/ }; do
  sm=${arch//./}; sm=${sm%+PTX}
  if ! grep -q "code=sm_$sm" "$log"; then
    say "FAILED: no kernels were compiled for sm_$sm (TORCH_CUDA_ARCH_LIST=$ARCHS; log: $log)"
    exit 1
  fi
done
say "ok: built in $((SECONDS - start)) s with no warnings in our sources"
