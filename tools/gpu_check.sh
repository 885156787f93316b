#!/usr/bin/env bash
# One-shot GPU check of vmlp_mm on a bare CUDA machine whose Python is not ours (e.g. Python 3.12
# with its own torch 2.11 + CUDA 13, no mm* packages, no network). About 8 minutes on one
# H100/H200. Writes its tables to $OUT (default ./gpu_check_out).
#
#   bash tools/gpu_check.sh --prepare   # on a CPU machine with PyPI: wheels for the GPU machine
#   bash tools/gpu_check.sh --dry-run   # list the steps and check that the inputs are there
#   bash tools/gpu_check.sh             # on the GPU machine, from the repository root
#
# Steps on the GPU machine:
#   1. install the carried wheels (.gpu_wheels/: mmengine, mmpretrain, mmsegmentation, mmcv and
#      their pure-Python needs) into /tmp/vmlp_site, --no-deps: the machine's torch stays;
#   2. build vmlp_mm._ext with the CUDA kernels for sm_90 (FORCE_CUDA=1, TORCH_CUDA_ARCH_LIST=9.0);
#   3. the op tests on CUDA (tests/test_ops: fp64 gradcheck, fp32, fp16/bf16, opcheck, compile);
#   4. every backbone's nano classifier and UperNet, 40 iterations each under fp16 (dynamic loss
#      scaling) and bf16 autocast: finite, falling losses (tools/analysis/amp_train_check.py);
#   5. shift_mix and offset_sample (+ projection) forward and forward+backward against the
#      official formulations (chunk/roll/conv; torchvision's deform_conv2d route) at the -T stage
#      shapes, batch 32 and 64; Strip-MLP's depthwise_conv2d against cuDNN (the DepthwiseConv2d
#      module runs cuDNN on GPUs until this table says otherwise); the -T backbones' training
#      step side by side with ms per GFLOP, fp32 and bf16 (tools/analysis/benchmark_ops.py,
#      tools/analysis/benchmark.py --train --per-gflop --rounds 2);
#   6. one table per step under $OUT; the exit status is that of the first failing step.
# Mask R-CNN is left out: it needs mmcv's CUDA ops, which the CPU wheel lacks (README: build mmcv
# with FORCE_CUDA=1 MMCV_WITH_OPS=1 on a GPU machine).
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=.gpu_wheels
OUT=${OUT:-gpu_check_out}
PY=${PYTHON:-python3}

prepare() {
  # wheels for CPython 3.12 on x86-64 Linux, without dependencies (the GPU machine has torch,
  # numpy, opencv, scipy, pyyaml, rich, regex, timm, pytest); mmcv 2.1.0 is source-only on PyPI,
  # so its wheel is built here (CPU ops, ~40 minutes on 2 cores; Python 3.12 needed).
  mkdir -p "$WHEELS"
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$WHEELS" mmengine==0.10.7 mmpretrain==1.2.0 mmsegmentation==1.2.2 addict yapf \
    termcolor ftfy wcwidth prettytable platformdirs mat4py modelindex ordered-set einops
  if ! ls "$WHEELS"/mmcv-2.1.0-cp312-*.whl >/dev/null 2>&1; then
    command -v python3.12 >/dev/null || { echo "--prepare: python3.12 is needed to build mmcv"; exit 1; }
    MMCV_WITH_OPS=1 python3.12 -m pip wheel --no-deps --no-build-isolation -w "$WHEELS" mmcv==2.1.0
  fi
  du -sh "$WHEELS"
}

STEPS=(
  "install wheels|$PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/vmlp_site $WHEELS/*.whl"
  "build vmlp_mm._ext (CUDA, sm_90)|FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 $PY setup.py -q build_ext --inplace"
  "op tests on CUDA|$PY -m pytest -q -p no:cacheprovider tests/test_ops"
  "AMP training check|$PY tools/analysis/amp_train_check.py --device cuda --iters 40 --out $OUT/amp_train.md"
  "op timings, batch 32|$PY tools/analysis/benchmark_ops.py --device cuda --batch 32 --only shift_mix offset_sample posmlp_stripmlp depthwise_conv"
  "op timings, batch 64|$PY tools/analysis/benchmark_ops.py --device cuda --batch 64 --only shift_mix offset_sample"
  "-T training steps|$PY tools/analysis/benchmark.py configs/classification/{msmlp/msmlp-tiny,activemlp/activemlp-tiny,posmlp/posmlp-tiny,stripmlp/stripmlp-tiny}_*in1k.py --device cuda --batch 64 --train --per-gflop --dtype fp32 bf16 --warmup 3 --repeats 5 --rounds 2"
)

if [ "${1:-}" = "--prepare" ]; then
  prepare
  exit
fi
if [ "${1:-}" = "--dry-run" ]; then
  echo "gpu_check: steps (OUT=$OUT, PYTHON=$PY)"
  for i in "${!STEPS[@]}"; do
    echo "  $((i + 1)). ${STEPS[$i]%%|*}: ${STEPS[$i]#*|}"
  done
  missing=0
  for f in setup.py tests/test_ops tools/analysis/amp_train_check.py tools/analysis/benchmark_ops.py \
      tools/analysis/benchmark.py; do
    [ -e "$f" ] || { echo "missing: $f"; missing=1; }
  done
  ls $WHEELS/*.whl >/dev/null 2>&1 || echo "note: no wheels in $WHEELS yet (run --prepare on a machine with PyPI)"
  exit $missing
fi

mkdir -p "$OUT"
export PYTHONPATH=/tmp/vmlp_site:$PWD${PYTHONPATH:+:$PYTHONPATH}
status=0
for i in "${!STEPS[@]}"; do
  name=${STEPS[$i]%%|*}
  log="$OUT/step$((i + 1)).log"
  echo "== $((i + 1)). $name"
  start=$(date +%s)
  bash -c "${STEPS[$i]#*|}" >"$log" 2>&1
  rc=$?
  tail -n 40 "$log"
  echo "== $((i + 1)). $name: exit $rc in $(( $(date +%s) - start )) s"
  [ $rc -ne 0 ] && [ $status -eq 0 ] && status=$rc
done
exit $status
