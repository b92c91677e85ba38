"""`python -m services.events.entrypoints.indexes [--check]`: the events database's
secondary indexes (declared in `adapters/indexes.py`), created idempotently; with
`--check`, only say which are missing (exit status 1 if any). The `cercle-indexes` Job
runs it at each release, then the points and badges services' own."""

from __future__ import annotations

import sys

from cercle_common.mongo import run_index_command
from services.events.adapters.indexes import INDEXES

__all__ = ["INDEXES", "main"]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    return run_index_command("events", INDEXES, argv)


if __name__ == "__main__":
    sys.exit(main())
