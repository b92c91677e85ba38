"""The badges core imports no I/O library: it stays a pure function of its inputs."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("flask", "kafka", "pymongo", "mongoengine", "redis", "requests", "yaml", "jwt")


def test_domain_imports_no_io_library():
    program = (
        "import sys\n"
        "import services.badges.domain.catalogue, services.badges.domain.criteria\n"
        "import services.badges.domain.facts, services.badges.domain.model\n"
        "import services.badges.domain.openbadges\n"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
