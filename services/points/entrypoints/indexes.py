"""`python -m services.points.entrypoints.indexes`: the points database's secondary indexes
(idempotent; declared beside the collections, `adapters/store.INDEXES`).

Every query of the service is served on MongoDB by `_id` or by one of these (the
README's "Indexes" table lists the same). The consumer's start-up reads of whole
collections (states, directory) need none."""

from __future__ import annotations

import sys

from cercle_common.mongo import run_index_command
from services.points.adapters.store import INDEXES

__all__ = ["INDEXES", "main"]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    return run_index_command("points", INDEXES, argv)


if __name__ == "__main__":
    sys.exit(main())
