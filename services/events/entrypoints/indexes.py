"""`python -m services.events.indexes`: the events database's secondary indexes.

Every query of the service is served on MongoDB by `_id` or by one of these (the
README's "Indexes" table lists the same). Whole-collection reads of bounded collections
(the directory and catalogue copies, the directory outbox, the sequence blocks) and the
relay's read of the outbox in natural order need none."""

from __future__ import annotations

import sys

from cercle_common.mongo import Index, run_index_command

INDEXES = (
    Index("survey_answers", (("survey_id", 1),), "eNPS reads one survey's answers"),
    Index("survey_answers", (("employee_id", 1),), "erasure drops an employee's answers"),
    Index("catalogue", (("kind", 1), ("id", 1)), "the admin lists one kind in id order"),
)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    return run_index_command("events", INDEXES, argv)


if __name__ == "__main__":
    sys.exit(main())
