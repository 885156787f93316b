#!/usr/bin/env bash
# Idempotent set-up of everything vmlp_mm needs, in a virtual environment (default: ./.venv).
# Both README commands (`make demo`, `make test`) go through this script; a second run that
# finds nothing changed only re-checks the imports.
#
# Environment:
#   VMLP_VENV        where the virtual environment lives            (default: <repo>/.venv)
#   VMLP_PYTHON      the interpreter that creates it                (default: python3.11 or python3)
#   MMCV_WHEELHOUSE  a folder holding a prebuilt mmcv-2.1.0 wheel;  (default: <repo>/../shared/wheels
#                    without one mmcv is built from source (~40 min on 2 cores)     when it exists)
#   FORCE_CUDA=1     build the CUDA kernels of vmlp_mm._ext (also done when a GPU is visible);
#                    TORCH_CUDA_ARCH_LIST picks the GPU architectures, as for any torch extension.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VMLP_VENV:-$ROOT/.venv}
WHEELHOUSE=${MMCV_WHEELHOUSE:-$ROOT/../shared/wheels}
TORCH_PIN="torch==2.13.0 torchvision==0.28.0"
MMCV_PIN="mmcv==2.1.0"

say() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  base=${VMLP_PYTHON:-$(command -v python3.11 || command -v python3)}
  say "creating virtual environment $VENV with $base"
  "$base" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)

# Everything below is skipped when the inputs of the last successful install are unchanged.
stamp="$VENV/.vmlp_mm_installed"
fingerprint=$(cd "$ROOT" && cat requirements/*.txt setup.py tools/install.sh \
  $(find vmlp_mm/ops/csrc -type f | sort) 2>/dev/null | sha1sum | cut -d' ' -f1)-${FORCE_CUDA:-0}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] && "$PY" "$ROOT/tools/check_install.py" --quiet; then
  say "environment up to date ($VENV)"
  exit 0
fi
rm -f "$stamp"

# setuptools<82 keeps pkg_resources, which mmcv's build and mmengine's `mmdet::` config
# inheritance import; this is the one place it is pinned for the environment.
say "build tools"
"${PIP[@]}" install -r "$ROOT/requirements/build.txt"

# The machine's pip config may point at a local `+cpu` torch build next to which PyPI's
# torchvision cannot load its ops; --isolated ignores that config and takes PyPI's builds.
if ! "$PY" - <<'EOF' 2>/dev/null
import torch, torchvision.ops
assert torch.__version__.split('+')[0] == '2.13.0' and '+cpu' not in torch.__version__
assert torchvision.__version__.split('+')[0] == '0.28.0'
EOF
then
  say "torch/torchvision from PyPI ($TORCH_PIN, ~3 GB)"
  "$PY" -m pip --disable-pip-version-check -q install --isolated $TORCH_PIN
fi

if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  if [ -d "$WHEELHOUSE" ] && ls "$WHEELHOUSE"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    say "mmcv from the wheelhouse $WHEELHOUSE"
    "${PIP[@]}" install --find-links "$WHEELHOUSE" --prefer-binary "$MMCV_PIN"
  else
    say "no mmcv wheel found (MMCV_WHEELHOUSE=$WHEELHOUSE): building mmcv with ops from source (~40 min on 2 cores)"
    MMCV_WITH_OPS=1 "${PIP[@]}" install --no-build-isolation "$MMCV_PIN"
  fi
fi

say "OpenMMLab stack and test requirements"
"${PIP[@]}" install -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

say "vmlp_mm (editable) and its extension vmlp_mm._ext"
(cd "$ROOT" && "${PIP[@]}" install --no-build-isolation --no-deps -e .)

"$PY" "$ROOT/tools/check_install.py"
echo "$fingerprint" > "$stamp"
say "done: activate with 'source $VENV/bin/activate'"
