"""The events service's MongoDB database (`cercle_events`).

Collections, each keyed by a deterministic `_id`:
- `accepted`: one document per event id ever accepted (the event as answered, its
  `fingerprint` and `entry`), inserted first: its unique `_id` is THE act of acceptance
  and the only "seen before?" check. A refusal is the one case that reads it back (to
  answer "same id, same content" or "same id, other content"): the door never asks about
  an id that is usually absent, which on the local server would read the whole collection.
  Insert-only.
- `outbox`: an accepted event waiting to be published (`_id` = event id, no sequence yet,
  `entry` = a time-ordered nonce: the relay's read order), inserted right after its
  `accepted` document (a re-send of an id accepted but never queued, the door having died
  in between, queues it then).
- `sequence_blocks`: one document per block of `SEQUENCE_BLOCK` numbers a relay uses
  (`_id` = the block), claimed by insert: the unique `_id` is the atomic guard that no
  number is ever given twice, on FerretDB as on MongoDB (an update such as `$inc` is not
  atomic on FerretDB/SQLite). A relay starts in a block of its own, so it never has to
  find the highest number taken; the collection stays small (one document per 10,000
  events), so reading it whole is cheap.
- `sequences`: one document per number, written by earlier versions: read once, by a
  relay starting on a database that has no blocks yet, to go on after them.
- `events`: the event store (`_id` = event id), written by the relay with the event's
  sequence and the outbox entry's nonce before it publishes. Insert-only.
- `survey_answers`: one answer per employee and question (`_id` = survey:question:employee).
- `employees` and `employee_outbox` (`_id` = employee:version): the directory and the
  changes waiting to be published on `cercle.employees.v1`.

Why an outbox collection rather than a `published` flag on the event: on the local
MongoDB wire server (FerretDB, SQLite) an update costs a scan of the whole collection
(36 ms per update at 10,000 events, measured), while inserts, `_id` reads and a scan of
a small collection are cheap. The outbox stays small: the relay deletes what it published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from cercle_common.grouped_inserts import GroupedInserts
from cercle_common.mongo import connect, create_indexes, is_duplicate_key, translated_errors
from cercle_common.settings import Settings
from services.events.adapters.documents import ALIAS, Employee
from services.events.adapters.indexes import INDEXES
from services.events.domain.accepted import AcceptedEvent, SurveyAnswer

# The `counters` document where earlier versions kept the last sequence handed out: read
# once, so that a database upgraded in place goes on after it.
LEGACY_COUNTER = "event_sequence"


class EventStore:
    """Adapter over the service's database: the event log, the outbox, the sequence
    blocks, the survey answers and the directory store of `ports.py` (raw pymongo, the
    directory through its mongoengine Document). Every method translates a lost
    connection into `InfrastructureError`. The `find_*` methods answer the stored
    documents themselves (for operators and tests); the ports' methods speak the domain's
    objects, the mapping being in this module."""

    def __init__(self, database: Database) -> None:
        self.db = database
        # The door's two inserts, grouped across the process's concurrent requests.
        self._accepted = GroupedInserts(lambda documents: self._insert("accepted", documents))
        self._outbox = GroupedInserts(lambda documents: self._insert("outbox", documents))

    @classmethod
    def connect(cls, settings: Settings) -> EventStore:
        """The store of the service's own database (lazy: nothing is sent yet)."""
        return cls(connect(settings, "events", alias=ALIAS))

    def close(self) -> None:
        """Close the connection (tests and short-lived commands)."""
        self.db.client.close()

    def ensure_indexes(self) -> None:
        """The indexes a real MongoDB serves the queries with (`adapters/indexes.py`;
        FerretDB accepts them and scans anyway)."""
        create_indexes(self.db, INDEXES)

    def ping(self) -> None:
        """Raises unless the database answers (readiness)."""
        with translated_errors():
            self.db.command("ping")

    # -- sequences ---------------------------------------------------------------------
    def highest_sequence_taken(self) -> int:
        """The highest sequence ever claimed, 0 when none (read whole, so only once: by a
        relay starting on a database that has no sequence blocks yet)."""
        with translated_errors():
            top = self.db.sequences.find_one({}, sort=[("_id", DESCENDING)])
            legacy = self.db.counters.find_one({"_id": LEGACY_COUNTER})
        return max(int(top["_id"]) if top else 0, int(legacy["value"]) if legacy else 0)

    def claim_block(self, block: int) -> bool:
        """Claim a block of sequence numbers; False when another relay claimed it."""
        with translated_errors():
            try:
                self.db.sequence_blocks.insert_one({"_id": block})
            except DuplicateKeyError:
                return False
        return True

    def highest_block(self) -> int | None:
        """The highest block claimed, None when none is (a small collection: read whole)."""
        with translated_errors():
            blocks = [int(found["_id"]) for found in self.db.sequence_blocks.find({}, {"_id": 1})]
        return max(blocks, default=None)

    # -- the event log (the door) -------------------------------------------------------
    def insert_accepted(self, events: Sequence[AcceptedEvent]) -> set[str]:
        """Record accepted events (the act of acceptance); returns the ids refused as
        accepted before."""
        documents = [acceptance_record(event) for event in events]
        return {documents[n]["_id"] for n in self._accepted.insert(documents)}

    def insert_outbox(self, events: Sequence[AcceptedEvent]) -> set[str]:
        """Queue accepted events; returns the ids refused as already present."""
        documents = [entry_document(event) for event in events]
        return {documents[n]["_id"] for n in self._outbox.insert(documents)}

    def accepted(self, event_id: str) -> AcceptedEvent | None:
        """The acceptance record of an id (read after a refusal: it is there)."""
        return _event_or_none(self.find_accepted(event_id))

    def queued_or_stored(self, event_id: str) -> AcceptedEvent | None:
        """See `find_queued_or_stored`."""
        return _event_or_none(self.find_queued_or_stored(event_id))

    def furthest(self, event_id: str) -> AcceptedEvent | None:
        """See `find_event`."""
        return _event_or_none(self.find_event(event_id))

    def find_accepted(self, event_id: str) -> dict[str, Any] | None:
        """The acceptance record's document."""
        with translated_errors():
            return self.db.accepted.find_one({"_id": event_id})

    def find_event(self, event_id: str) -> dict[str, Any] | None:
        """The accepted event with this id, at its furthest stage: the event store's copy
        (with its sequence) once the relay stored it, else the outbox entry, else the
        acceptance record (accepted, not queued yet)."""
        accepted = self.find_accepted(event_id)
        if accepted is None:
            return None
        return self.find_queued_or_stored(event_id) or accepted

    def find_queued_or_stored(self, event_id: str) -> dict[str, Any] | None:
        """The outbox entry or the event store's copy of an accepted id; None when it was
        accepted and never queued. The outbox first: it is small, so a miss there is
        cheap, and the relay stores an entry before deleting it from the outbox, so an
        entry that moved between the two reads is found in the event store."""
        with translated_errors():
            return self.db.outbox.find_one({"_id": event_id}) or self.db.events.find_one(
                {"_id": event_id}
            )

    # -- the outbox (the relay) ----------------------------------------------------------
    def pending(self, limit: int) -> list[AcceptedEvent]:
        """See `pending_events`."""
        return [accepted_from(document) for document in self.pending_events(limit)]

    def insert_events(self, events: Sequence[AcceptedEvent]) -> set[str]:
        """Insert into the event store (never a survey answer's value); returns the ids
        already there."""
        return self._insert_many("events", [stored_document(event) for event in events])

    def stored(self, event_id: str) -> AcceptedEvent | None:
        """The event store's copy of an id."""
        return _event_or_none(self.find_stored_event(event_id))

    def find_stored_event(self, event_id: str) -> dict[str, Any] | None:
        """The event store's document only."""
        with translated_errors():
            return self.db.events.find_one({"_id": event_id})

    def delete_outbox(self, event_ids: Iterable[str]) -> None:
        """Remove published (or stray) outbox entries."""
        ids = list(event_ids)
        if ids:
            with translated_errors():
                self.db.outbox.delete_many({"_id": {"$in": ids}})

    def pending_events(self, limit: int) -> list[dict[str, Any]]:
        """The oldest outbox entries, in the order they were inserted (accept order; a
        batch's entries in its own order). Read in natural order with a limit, which the
        local server answers without reading the rest of the outbox, however long a
        backlog grows (a sort would read and sort it all, each turn)."""
        with translated_errors():
            return list(self.db.outbox.find({}).limit(limit))

    def count_pending(self) -> int:
        """How many accepted events wait to be published."""
        with translated_errors():
            return self.db.outbox.count_documents({})

    # -- survey answers --------------------------------------------------------------------
    def save_answer(self, kept: SurveyAnswer) -> None:
        """Keep the newest answer of an employee to a question (by occurred_at, then
        sequence): applying the same answer twice, or an older one late, changes nothing.
        Inserted first: only an employee answering again has an answer to read back."""
        answer = {**answer_document(kept), "sequence": kept.sequence}
        answer.update(team=kept.team, site=kept.site)
        with translated_errors():
            try:
                self.db.survey_answers.insert_one(answer)
                return
            except DuplicateKeyError:
                current = self.db.survey_answers.find_one({"_id": answer["_id"]})
            if current is not None and _answer_order(current) >= _answer_order(answer):
                return
            self.db.survey_answers.replace_one({"_id": answer["_id"]}, answer, upsert=True)

    def erase_answers_of(self, employee_id: str) -> int:
        """Right to erasure: drop an employee's survey answers; returns how many."""
        with translated_errors():
            return self.db.survey_answers.delete_many({"employee_id": employee_id}).deleted_count

    def answers_of(self, survey_id: str) -> list[dict[str, Any]]:
        """Every stored answer of a survey (a scan; eNPS reads are rare)."""
        with translated_errors():
            return list(self.db.survey_answers.find({"survey_id": survey_id}))

    # -- directory ---------------------------------------------------------------------
    def find_employee(self, employee_id: str) -> dict[str, Any] | None:
        """The directory entry (erased entries included, flagged `erased`)."""
        with translated_errors():
            employee = Employee.objects(id=employee_id).first()
        return None if employee is None else employee.as_entry()

    def employee_statuses(self) -> list[dict[str, Any]]:
        """Every directory entry's `_id`, `active` and `erased` (one read of the bounded
        directory, for the door's copy)."""
        with translated_errors():
            return list(self.db.employees.find({}, {"active": 1, "erased": 1}))

    def insert_employee_change(self, change: dict[str, Any]) -> bool:
        """Record a directory change to publish; False if that version is already taken
        (a concurrent writer, or a change that died before it was applied)."""
        with translated_errors():
            try:
                self.db.employee_outbox.insert_one(change)
            except DuplicateKeyError:
                return False
        return True

    def find_employee_change(self, change_id: str) -> dict[str, Any] | None:
        """One pending directory change."""
        with translated_errors():
            return self.db.employee_outbox.find_one({"_id": change_id})

    def apply_employee_change(self, change: dict[str, Any]) -> None:
        """Make the directory entry reflect `change` unless it already holds a newer one."""
        with translated_errors():
            current = Employee.objects(id=change["employee_id"]).first()
            if current is not None and current.version >= change["version"]:
                return
            employee = Employee(
                id=change["employee_id"],
                version=change["version"],
                updated_at=change["created_at"],
                **change["record"],
            )
            employee.validate()
            # An upsert, not `save()`: the request and the relay may apply the same change
            # at once, and mongoengine's save of a new document is a find-then-insert.
            collection = Employee._get_collection()
            try:
                collection.replace_one({"_id": employee.id}, employee.to_mongo(), upsert=True)
            except DuplicateKeyError:
                # Two upserts raced to create the entry; the other one inserted it.
                collection.replace_one({"_id": employee.id}, employee.to_mongo())

    def pending_employee_changes(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Directory changes to publish, each employee's in version order. Without a limit
        by default: a partial read could hold version 2 of someone without version 1."""
        with translated_errors():
            cursor = self.db.employee_outbox.find({})
            changes = list(cursor.limit(limit) if limit else cursor)
        return sorted(changes, key=lambda change: (change["employee_id"], change["version"]))

    def delete_employee_changes(self, change_ids: Iterable[str]) -> None:
        """Remove published directory changes."""
        ids = list(change_ids)
        if ids:
            with translated_errors():
                self.db.employee_outbox.delete_many({"_id": {"$in": ids}})

    # -- internals ---------------------------------------------------------------------
    def _insert_many(self, collection: str, documents: list[dict[str, Any]]) -> set[str]:
        return {documents[n]["_id"] for n in self._insert(collection, documents)}

    def _insert(self, collection: str, documents: list[dict[str, Any]]) -> set[int]:
        """Insert each document independently; the positions refused as duplicates."""
        if not documents:
            return set()
        with translated_errors():
            try:
                self.db[collection].insert_many(documents, ordered=False)
            except BulkWriteError as error:
                if not is_duplicate_key(error):
                    raise
                return {problem["index"] for problem in error.details["writeErrors"]}
        return set()


def _answer_order(answer: dict[str, Any]) -> tuple[str, int]:
    return (answer["occurred_at"], answer["sequence"])


# -- documents ---------------------------------------------------------------------------
# `accepted`, `outbox` and `events` hold the same fields (`_id` = event id): the outbox
# entry adds a survey answer's value (`answer`), the event store the `sequence`.


def acceptance_record(event: AcceptedEvent) -> dict[str, Any]:
    """The `accepted` document: everything but a survey answer's value, which stays in
    the outbox until the relay keeps it with the answers."""
    document: dict[str, Any] = {
        "_id": event.id,
        "type": event.type,
        "schema_version": event.schema_version,
        "occurred_at": event.occurred_at,
        "employee_id": event.employee_id,
        "source": event.source,
        "data": event.data,
        "accepted_at": event.accepted_at,
    }
    # Absent only from what earlier versions stored: written back as it was read.
    if event.fingerprint is not None:
        document["fingerprint"] = event.fingerprint
    if event.entry is not None:
        document["entry"] = event.entry
    return document


def entry_document(event: AcceptedEvent) -> dict[str, Any]:
    """The `outbox` document: the acceptance record, and a survey answer's value in
    `answer` (no sequence: the relay gives it)."""
    document = acceptance_record(event)
    if event.answer is not None:
        document["answer"] = answer_document(event.answer)
    return document


def stored_document(event: AcceptedEvent) -> dict[str, Any]:
    """The `events` document: the acceptance record with its sequence."""
    return {**acceptance_record(event), "sequence": event.sequence}


def answer_document(answer: SurveyAnswer) -> dict[str, Any]:
    """A survey answer as the outbox carries it (`survey_answers` adds `sequence`, `team`
    and `site`)."""
    return {
        "_id": answer.key,
        "survey_id": answer.survey_id,
        "question_id": answer.question_id,
        "employee_id": answer.employee_id,
        "kind": answer.kind,
        "value": answer.value,
        "occurred_at": answer.occurred_at,
        "event_id": answer.event_id,
    }


def accepted_from(document: dict[str, Any]) -> AcceptedEvent:
    """An accepted event from any of the three collections (documents of earlier
    versions may lack `fingerprint` and `entry`)."""
    answer = document.get("answer")
    return AcceptedEvent(
        id=document["_id"],
        type=document["type"],
        schema_version=document["schema_version"],
        occurred_at=document["occurred_at"],
        employee_id=document["employee_id"],
        source=document["source"],
        data=document["data"],
        accepted_at=document["accepted_at"],
        fingerprint=document.get("fingerprint"),
        entry=document.get("entry"),
        sequence=document.get("sequence"),
        answer=None if answer is None else answer_from(answer),
    )


def answer_from(document: dict[str, Any]) -> SurveyAnswer:
    """A survey answer from its document (in the outbox or `survey_answers`)."""
    return SurveyAnswer(
        survey_id=document["survey_id"],
        question_id=document["question_id"],
        employee_id=document["employee_id"],
        kind=document["kind"],
        value=document["value"],
        occurred_at=document["occurred_at"],
        event_id=document["event_id"],
        sequence=document.get("sequence"),
        team=document.get("team"),
        site=document.get("site"),
    )


def _event_or_none(document: dict[str, Any] | None) -> AcceptedEvent | None:
    return None if document is None else accepted_from(document)
