"""`python -m services.events.entrypoints.schemas [DIR]`: write the JSON Schema of every event type
to `docs/schemas/` (the domain generates them; a test checks the files are current)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.events.domain.schemas import all_event_types, event_schema

DEFAULT_DIR = Path(__file__).resolve().parents[3] / "docs" / "schemas"


def render(event_type: str) -> str:
    """The file content for one type."""
    return json.dumps(event_schema(event_type), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m services.events.entrypoints.schemas",
        description="Write the JSON Schema of every event type (one file per type).",
    )
    parser.add_argument(
        "directory", nargs="?", type=Path, default=DEFAULT_DIR, help="default: docs/schemas"
    )
    target: Path = parser.parse_args(argv).directory
    target.mkdir(parents=True, exist_ok=True)
    for event_type in all_event_types():
        (target / f"{event_type}.json").write_text(render(event_type), encoding="utf-8")
    print(f"{len(all_event_types())} schemas written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
