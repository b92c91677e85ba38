"""The events database's secondary indexes (created by
`python -m services.events.entrypoints.indexes`).

Every query of the service is served on MongoDB by `_id` or by one of these (the
README's "Indexes" table lists the same). Whole-collection reads of bounded collections
(the directory and catalogue copies, the directory outbox, the sequence blocks) and the
relay's read of the outbox in natural order need none."""

from __future__ import annotations

from cercle_common.mongo import Index

INDEXES = (
    Index("survey_answers", (("survey_id", 1),), "eNPS reads one survey's answers"),
    Index("survey_answers", (("employee_id", 1),), "erasure drops an employee's answers"),
    Index("catalogue", (("kind", 1), ("id", 1)), "the admin lists one kind in id order"),
)
