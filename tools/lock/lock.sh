#!/usr/bin/env bash
# Makes every Python lock of the repository from the files that state the requirements:
#   requirements-dev.lock       pyproject.toml with the dev extras: the project's environment
#   requirements.lock           pyproject.toml alone, the same versions: the image
#   tools/openbadges/requirements.txt   the Open Badges validator's tool environment
#   tools/lock/requirements.txt         the lock generator itself (uv)
# Each lock pins every package with the hashes of its files, for every platform (so a Mac
# and the Linux image install from the same lock). A package already pinned keeps its
# version unless a requirement moved: arguments go to every `uv pip compile`, e.g.
#   bash tools/lock/lock.sh --upgrade-package certifi      (or --upgrade: everything)
# (tools/k8s/requirements.txt holds two wheels pinned by hand: see tools/k8s/install.sh.)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.tools/lockvenv"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
marker="$venv/.lock-sha256"
lock_hash="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"

if [ ! -x "$venv/bin/uv" ] || [ "$(cat "$marker" 2>/dev/null)" != "$lock_hash" ]; then
    "$python" -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --quiet --require-hashes --no-deps --only-binary=:all: \
        -r "$here/requirements.txt"
    echo "$lock_hash" >"$marker"
fi

cd "$repo"
compile() {
    "$venv/bin/uv" pip compile --quiet --generate-hashes --universal --python-version 3.11 \
        --custom-compile-command "make lock" "$@"
}
compile pyproject.toml --extra dev -o requirements-dev.lock "$@"
# Constrained by the dev lock: the image runs the versions the tests ran.
compile pyproject.toml -c requirements-dev.lock -o requirements.lock "$@"
compile tools/openbadges/requirements.in --override tools/openbadges/overrides.txt \
    -o tools/openbadges/requirements.txt "$@"
compile tools/lock/requirements.in -o tools/lock/requirements.txt "$@"
echo "locks made: requirements-dev.lock requirements.lock tools/openbadges/requirements.txt" \
    "tools/lock/requirements.txt"
