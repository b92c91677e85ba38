"""`python -m services.points.entrypoints.indexes`: the points database's secondary indexes.

Every query of the service is served on MongoDB by `_id` or by one of these (the
README's "Indexes" table lists the same). The consumer's start-up reads of whole
collections (states, directory) need none."""

from __future__ import annotations

import sys

from cercle_common.mongo import Index, run_index_command

INDEXES = (
    Index(
        "ledger",
        (("employee_id", 1), ("sequence", -1)),
        "an employee's ledger page, newest first; erasure and rescore by employee",
    ),
    Index("states", (("employee_id", 1),), "states of some employees; erasure"),
    Index("directory", (("employee_id", 1),), "erasure keeps only the erasure marker"),
)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    return run_index_command("points", INDEXES, argv)


if __name__ == "__main__":
    sys.exit(main())
