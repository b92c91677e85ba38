"""MongoDB adapter of the points service (database `cercle_points`), the source of truth.

Every write is an insert with a deterministic `_id`, so a repeated write is refused as a
duplicate and changes nothing (the exactly-once guard), and no write needs a transaction:
- `ledger`: one document per (event, rule), `_id = <event id>:<rule id>`;
- `states`: snapshots of an employee's rule state with the position that produced it,
  `_id = <employee id>:<events applied>:<last sequence>`; the latest snapshot (most
  events applied) is the state;
- `directory`: the directory snapshots received, `_id = <employee id>:<kafka offset>`.
Inserts only, because the local MongoDB-compatible server (FerretDB on SQLite) answers an
insert in microseconds but an update or a read by `_id` by reading the whole collection.
Raw pymongo bulk operations (`bulk_write` of `InsertOne`, unordered), no mongoengine
Document: this is the consumer's hot path, one bulk insert per collection and batch.

`INDEXES` are the secondary indexes a real MongoDB serves the other queries with (the
README's "Indexes" table lists the same; `python -m services.points.entrypoints.indexes`
creates them). The consumer's start-up reads of whole collections (states, directory)
need none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, InsertOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from cercle_common.envelope import format_instant, parse_instant
from cercle_common.mongo import DUPLICATE_KEY, Index, create_indexes, ping, translated_errors
from services.points.domain.model import DirectoryEntry, EmployeeState, LedgerEntry
from services.points.ports import LedgerStore

LEDGER = "ledger"
STATES = "states"
DIRECTORY = "directory"

INDEXES = (
    Index(
        LEDGER,
        (("employee_id", 1), ("sequence", -1)),
        "an employee's ledger page, newest first; erasure and rescore by employee",
    ),
    Index(STATES, (("employee_id", 1),), "states of some employees; erasure"),
    Index(DIRECTORY, (("employee_id", 1),), "erasure keeps only the erasure marker"),
)


class PointsStore(LedgerStore):
    """Reads and writes the points database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.ledger = database[LEDGER]
        self.states = database[STATES]
        self.directory = database[DIRECTORY]

    def ensure_indexes(self) -> None:
        """The indexes a real MongoDB serves the queries with (`INDEXES`; FerretDB
        accepts them)."""
        create_indexes(self.database, INDEXES)

    def ping(self) -> None:
        """Raises unless MongoDB answers (a readiness check)."""
        ping(self.database)

    def insert_ledger(self, entries: Iterable[LedgerEntry]) -> None:
        """Store ledger entries; those already stored are left as they are."""
        _insert_ignoring_duplicates(
            self.ledger, [{"_id": entry.id, **_ledger_document(entry)} for entry in entries]
        )

    def insert_states(self, states: Iterable[EmployeeState]) -> None:
        """Store state snapshots (each with its position)."""
        _insert_ignoring_duplicates(
            self.states,
            [
                {
                    # `applied` grows with every event, even one that does not move
                    # `last_sequence` (a new id at an old sequence).
                    "_id": f"{state.employee_id}:{state.applied:012d}:{state.last_sequence:015d}",
                    "employee_id": state.employee_id,
                    "applied": state.applied,
                    "last_sequence": state.last_sequence,
                    # As JSON text: rule ids, content ids and period keys hold dots,
                    # which field names may not.
                    "state": json.dumps(state.to_dict(), separators=(",", ":")),
                }
                for state in states
            ],
        )

    def insert_directory(self, entries: Iterable[DirectoryEntry]) -> None:
        """Store directory snapshots (each with its Kafka offset)."""
        _insert_ignoring_duplicates(
            self.directory,
            [
                {
                    "_id": f"{entry.employee_id}:{entry.position:015d}",
                    "employee_id": entry.employee_id,
                    "position": entry.position,
                    "erased": entry.erased,
                    "team": entry.team,
                    "site": entry.site,
                    "visibility": entry.visibility,
                    "pseudonym": entry.pseudonym,
                    "active": entry.active,
                }
                for entry in entries
            ],
        )

    def load_states(
        self, employee_ids: set[str] | None = None, compact: bool = False
    ) -> dict[str, EmployeeState]:
        """The latest state of every employee (one pass over the snapshots). With
        `compact`, the older snapshots seen are deleted afterwards (one batch per 5,000:
        each is a single pass on FerretDB), which keeps the next load short."""
        latest: dict[str, dict[str, Any]] = {}
        superseded: list[str] = []
        query = {} if employee_ids is None else {"employee_id": {"$in": sorted(employee_ids)}}
        with translated_errors():
            for document in self.states.find(query):
                known = latest.get(document["employee_id"])
                if known is None or _snapshot_order(document) > _snapshot_order(known):
                    latest[document["employee_id"]] = document
                    if known is not None:
                        superseded.append(known["_id"])
                else:
                    superseded.append(document["_id"])
            if compact:
                for start in range(0, len(superseded), 5000):
                    chunk = superseded[start : start + 5000]
                    self.states.delete_many({"_id": {"$in": chunk}})
        return {
            employee_id: EmployeeState.from_dict(json.loads(document["state"]))
            for employee_id, document in latest.items()
        }

    def load_directory(self) -> dict[str, DirectoryEntry]:
        """The latest directory snapshot of every employee (one pass)."""
        latest: dict[str, DirectoryEntry] = {}
        with translated_errors():
            for document in self.directory.find({}):
                entry = DirectoryEntry(
                    employee_id=document["employee_id"],
                    position=int(document["position"]),
                    erased=bool(document["erased"]),
                    team=document.get("team") or "",
                    site=document.get("site") or "",
                    visibility=document.get("visibility") or "visible",
                    pseudonym=document.get("pseudonym") or "",
                    active=bool(document.get("active", True)),
                )
                known = latest.get(entry.employee_id)
                if known is None or entry.position > known.position:
                    latest[entry.employee_id] = entry
        return latest

    def erase(self, employee_id: str, keep_position: int) -> None:
        """Right to erasure: drop the employee's ledger, states and older directory data,
        keeping only the erasure marker at `keep_position`."""
        with translated_errors():
            self.ledger.delete_many({"employee_id": employee_id})
            self.states.delete_many({"employee_id": employee_id})
            self.directory.delete_many(
                {"employee_id": employee_id, "position": {"$ne": keep_position}}
            )

    def forget(self, employee_ids: Iterable[str]) -> None:
        """Remove the ledger and states of these employees (before a rescore rebuilds them)."""
        ids = sorted(set(employee_ids))
        if not ids:
            return
        with translated_errors():
            self.ledger.delete_many({"employee_id": {"$in": ids}})
            self.states.delete_many({"employee_id": {"$in": ids}})

    def drop_scores(self) -> None:
        """Remove every ledger entry and state (a full rescore rebuilds them)."""
        with translated_errors():
            self.ledger.drop()
            self.states.drop()

    def ledger_page(self, employee_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
        """Ledger entries of one employee, newest first (MongoDB serves it from the
        `(employee_id, sequence)` index)."""
        with translated_errors():
            cursor = (
                self.ledger.find({"employee_id": employee_id})
                .sort([("sequence", DESCENDING), ("_id", ASCENDING)])
                .skip(offset)
                .limit(limit)
            )
            return [_ledger_view(document) for document in cursor]

    def ledger_points(self) -> Iterator[tuple[str, int, datetime]]:
        """(employee id, points, occurred_at) of every ledger entry, in one pass."""
        with translated_errors():
            for document in self.ledger.find({}, {"employee_id": 1, "points": 1, "occurred_at": 1}):
                occurred_at = document["occurred_at"]
                if isinstance(occurred_at, str):
                    occurred_at = parse_instant(occurred_at, "occurred_at")
                elif occurred_at.tzinfo is None:
                    occurred_at = occurred_at.replace(tzinfo=UTC)
                yield document["employee_id"], int(document["points"]), occurred_at

    def ledger_of(self, employee_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Every ledger entry of these employees (for comparisons and exports)."""
        with translated_errors():
            return [
                _ledger_view(document)
                for document in self.ledger.find(
                    {"employee_id": {"$in": sorted(set(employee_ids))}}
                )
            ]


def _snapshot_order(document: dict[str, Any]) -> tuple[int, int]:
    # Snapshots written before `applied` existed count as 0 and sort by their position.
    return int(document.get("applied", 0)), int(document["last_sequence"])


def _ledger_document(entry: LedgerEntry) -> dict[str, Any]:
    body = entry.to_dict()
    body.pop("id")
    body["occurred_at"] = entry.occurred_at
    return body


def _ledger_view(document: dict[str, Any]) -> dict[str, Any]:
    occurred_at = document["occurred_at"]
    if isinstance(occurred_at, str):
        occurred_at = parse_instant(occurred_at, "occurred_at")
    return {
        "id": document["_id"],
        "event_id": document["event_id"],
        "event_type": document["event_type"],
        "employee_id": document["employee_id"],
        "rule_id": document["rule_id"],
        "rules_version": document["rules_version"],
        "points": document["points"],
        "explanation": document["explanation"],
        "occurred_at": format_instant(occurred_at),
        "sequence": document["sequence"],
        "reverses": document.get("reverses"),
    }


def _insert_ignoring_duplicates(collection: Any, documents: list[dict[str, Any]]) -> None:
    if not documents:
        return
    with translated_errors():
        try:
            collection.bulk_write([InsertOne(doc) for doc in documents], ordered=False)
        except BulkWriteError as error:
            # A duplicate `_id` is an effect already applied; anything else is not.
            problems = [
                problem
                for problem in error.details.get("writeErrors", [])
                if problem.get("code") != DUPLICATE_KEY
            ]
            if problems:
                raise
