#!/usr/bin/env bash
# Builds the Open Badges 2.0 validator's tool environment in .tools/obvenv (git-ignored).
#
# Why a separate environment: openbadges (the official validator from 1EdTech/IMS) pins
# dependencies that clash with the project's and do not import on Python 3.11. Its lock,
# requirements.txt beside this script (compiled by `make lock` from requirements.in with
# overrides.txt replacing those pins), holds every package with its hashes: it is installed
# with --require-hashes and --no-deps (openbadges' own pins would refuse the overrides).
# Idempotent: an environment built from the same lock is left as it is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${OBVENV:-$repo/.tools/obvenv}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
lock="$here/requirements.txt"
marker="$venv/.lock-sha256"
lock_hash="$(sha256sum "$lock" | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ "$(cat "$marker" 2>/dev/null)" = "$lock_hash" ] \
    && "$venv/bin/python" -c "import openbadges" >/dev/null 2>&1; then
    echo "openbadges validator ready in $venv"
    exit 0
fi

if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
    echo "$venv exists and is not a virtual environment: not replacing it" >&2
    exit 1
fi
"$python" -m venv --clear "$venv"
# --no-build-isolation: the few source-only packages build with the setuptools the venv
# came with, rather than with one fetched unpinned for the build.
"$venv/bin/python" -m pip install --quiet --require-hashes --no-deps --no-build-isolation \
    -r "$lock"
"$venv/bin/python" -c "import openbadges" # fails loudly if the recipe stopped working
echo "$lock_hash" >"$marker"
echo "openbadges validator ready in $venv"
