#!/usr/bin/env bash
# Builds the Open Badges 2.0 validator's tool environment in .tools/obvenv (git-ignored).
#
# Why a separate environment: openbadges 1.1.2 (the official validator from 1EdTech/IMS)
# pins dependencies that clash with the project's and do not import on Python 3.11. It is
# installed with --no-deps, and the releases listed in requirements.txt beside it.
# Idempotent: an environment that already imports `openbadges` is left as it is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${OBVENV:-$repo/.tools/obvenv}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import openbadges" >/dev/null 2>&1; then
    echo "openbadges validator ready in $venv"
    exit 0
fi

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$venv/bin/python" -m pip install --quiet --no-deps openbadges==1.1.2
"$venv/bin/python" -c "import openbadges" # fails loudly if the recipe stopped working
echo "openbadges validator ready in $venv"
