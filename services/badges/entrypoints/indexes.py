"""`python -m services.badges.entrypoints.indexes`: the badges database's secondary indexes.

Every query of the service is served on MongoDB by `_id` or by one of these (the
README's "Indexes" table lists the same). The whole-collection reads (the consumer given
partitions, the scheduled pass and its clean-up) need none."""

from __future__ import annotations

import sys

from cercle_common.mongo import Index, run_index_command

INDEXES = (
    Index(
        "state_versions",
        (("employee_id", 1),),
        "an employee's versions: a state looked up by the API; erasure",
    ),
    Index("state_bodies", (("employee_id", 1),), "erasure"),
    Index(
        "awards",
        (("badge_id", 1), ("_id", 1)),
        "a badge's holders in award id order (every revision, the highest standing)",
    ),
    Index("awards", (("award_id", 1),), "one award's revisions: an award looked up by id"),
    Index("awards", (("employee_id", 1),), "erasure"),
    Index("directory", (("employee_id", 1),), "the entries of a page of holders; erasure"),
    Index("recipients", (("employee_id", 1),), "erasure"),
)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    return run_index_command("badges", INDEXES, argv)


if __name__ == "__main__":
    sys.exit(main())
