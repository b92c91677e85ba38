"""Accepting events: the one function every door (HTTP single, HTTP batch, admin, the
inbound topic) goes through, so an event is judged the same whatever path it took."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from cercle_common.envelope import SURVEY_ANSWERED, Envelope, format_instant
from cercle_common.errors import (
    CercleError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from services.events.catalogue import BatchMemory, Catalogue, References
from services.events.domain.events import (
    MAX_EVENT_BYTES,
    check_envelope_fields,
    check_not_in_future,
    check_type_allowed,
    fingerprint,
    public_data,
    validate_data,
)
from services.events.domain.trust import check_source_may_send, door_of
from services.events.store import EventStore

log = logging.getLogger(__name__)

ACCEPTED = Counter("cercle_events_accepted_total", "Events accepted (new)", ["path", "type"])
DUPLICATES = Counter(
    "cercle_events_duplicates_total", "Events re-sent with the same id and content", ["path"]
)
REJECTED = Counter("cercle_events_rejected_total", "Events refused", ["path", "code"])

Clock = Callable[[], datetime]


class UnknownEmployee(ValidationError):
    """The event names an employee the directory does not know, has erased, or who is
    not active."""

    code = "unknown_employee"


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted event: 201 (new), 200 (same id and content), or an
    error (4xx)."""

    status: int
    event: dict[str, Any] | None = None
    error: CercleError | None = None
    event_id: str | None = None

    def as_result(self) -> dict[str, Any]:
        """The per-item entry of a batch answer."""
        body: dict[str, Any] = {"id": self.event_id, "status": self.status}
        if self.error is not None:
            body.update(self.error.to_dict())
        else:
            body["event"] = self.event
        return body


def utc_now() -> datetime:
    """The service's clock."""
    return datetime.now(UTC)


def sortable_instant(instant: datetime) -> str:
    """Fixed-width UTC text, so that string order is time order."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ingestion:
    """Validates, deduplicates and stores events. Storing = inserting the outbox entry;
    the relay publishes it."""

    def __init__(self, store: EventStore, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock
        self.references = References(Catalogue(store.db, clock), store)

    def accept(self, body: Any, *, path: str, admin: bool = False) -> Outcome:
        """One event (see `accept_many`)."""
        return self.accept_many([body], path=path, admin=admin)[0]

    def accept_many(
        self, bodies: Sequence[Any], *, path: str, admin: bool = False
    ) -> list[Outcome]:
        """Judge each body independently; store the new ones with one sequence block, one
        outbox insert and one event-store insert. Raises only on an outage."""
        now = self.clock()
        batch = BatchMemory()
        outcomes: list[Outcome | None] = [None] * len(bodies)
        candidates: list[tuple[int, Envelope, dict[str, Any], str]] = []
        seen: dict[str, int] = {}
        for index, body in enumerate(bodies):
            try:
                envelope, data = self._validate(body, now, batch, admin, path)
            except CercleError as error:
                outcomes[index] = self._rejected(body, error, path)
                continue
            digest = fingerprint(Envelope(**{**_fields(envelope), "data": data}))
            if envelope.id in seen:
                # The same id twice in one batch: judged against the first after storing.
                candidates.append((index, envelope, data, digest))
                continue
            seen[envelope.id] = index
            candidates.append((index, envelope, data, digest))
        fresh = [c for c in candidates if seen[c[1].id] == c[0]]
        repeats = [c for c in candidates if seen[c[1].id] != c[0]]
        if fresh:
            self._store(fresh, now, outcomes, path)
        for index, envelope, _data, digest in repeats:
            outcomes[index] = self._compare(envelope.id, digest, path)
        return [outcome for outcome in outcomes if outcome is not None]

    def stored(self, event_id: str) -> dict[str, Any]:
        """An accepted event as answered and published; `NotFound` otherwise."""
        document = self.store.find_event(event_id)
        if document is None:
            raise NotFound("no accepted event has this id", "id")
        return stored_event(document)

    # -- validation --------------------------------------------------------------------
    def _validate(
        self,
        body: Any,
        now: datetime,
        batch: BatchMemory,
        admin: bool,
        path: str,
    ) -> tuple[Envelope, dict[str, Any]]:
        if not isinstance(body, dict):
            raise ValidationError("each event must be a JSON object", None)
        if len(json.dumps(body, default=str)) > MAX_EVENT_BYTES:
            raise PayloadTooLarge(f"an event may be at most {MAX_EVENT_BYTES} bytes")
        check_envelope_fields(body)
        envelope = Envelope.from_dict(body)
        check_type_allowed(envelope.type, admin=admin)
        check_source_may_send(body.get("source"), envelope.type, door_of(path))
        data = validate_data(envelope.type, envelope.data)
        check_not_in_future(envelope.occurred_at, now)
        self._check_employee(envelope.employee_id, batch.employees)
        # Last: the catalogue and the event store are read only for an otherwise valid event.
        self.references.check(envelope, data, batch)
        return envelope, data

    def _check_employee(
        self, employee_id: str, employees: dict[str, dict[str, Any] | None]
    ) -> None:
        if employee_id not in employees:
            employees[employee_id] = self.store.find_employee(employee_id)
        employee = employees[employee_id]
        if employee is None or employee.get("erased"):
            raise UnknownEmployee("unknown employee", "employee_id")
        if not employee.get("active", True):
            raise UnknownEmployee("employee is not active", "employee_id")

    def _rejected(self, body: Any, error: CercleError, path: str) -> Outcome:
        REJECTED.labels(path=path, code=error.code).inc()
        event_id = body.get("id") if isinstance(body, dict) else None
        return Outcome(
            status=error.status,
            error=error,
            event_id=event_id if isinstance(event_id, str) else None,
        )

    # -- storing -----------------------------------------------------------------------
    def _store(
        self,
        fresh: list[tuple[int, Envelope, dict[str, Any], str]],
        now: datetime,
        outcomes: list[Outcome | None],
        path: str,
    ) -> None:
        # No read before writing: the `_id`s refuse what is already there. An id that
        # reaches the outbox but is already in the event store (accepted earlier and
        # published) is a stray entry and is taken back out before it is published.
        first = self.store.allocate_sequences(len(fresh))
        documents = [
            entry_document(envelope, data, digest, first + offset, now)
            for offset, (_index, envelope, data, digest) in enumerate(fresh)
        ]
        pending = self.store.insert_outbox(documents)
        inserted = [doc for doc in documents if doc["_id"] not in pending]
        stray = materialize(self.store, inserted)
        self.store.delete_outbox(stray)
        by_id = {doc["_id"]: doc for doc in inserted if doc["_id"] not in stray}
        for index, envelope, _data, digest in fresh:
            document = by_id.get(envelope.id)
            if document is not None:
                ACCEPTED.labels(path=path, type=envelope.type).inc()
                outcomes[index] = Outcome(201, stored_event(document), None, envelope.id)
            elif envelope.id in stray:
                outcomes[index] = self._compare(envelope.id, digest, path, stray[envelope.id])
            else:
                outcomes[index] = self._compare(envelope.id, digest, path)

    def _compare(
        self, event_id: str, digest: str, path: str, stored: dict[str, Any] | None = None
    ) -> Outcome:
        stored = stored or self.store.find_event(event_id)
        if stored is None:  # pragma: no cover - the id was refused as a duplicate just now
            raise Conflict("the event vanished while being stored; retry", "id")
        if stored["fingerprint"] != digest:
            error = Conflict("an event with this id and other content was already accepted", "id")
            return self._rejected({"id": event_id}, error, path)
        DUPLICATES.labels(path=path).inc()
        return Outcome(200, stored_event(stored), None, event_id)


def _fields(envelope: Envelope) -> dict[str, Any]:
    return {
        "id": envelope.id,
        "type": envelope.type,
        "occurred_at": envelope.occurred_at,
        "employee_id": envelope.employee_id,
        "data": envelope.data,
        "source": envelope.source,
        "schema_version": envelope.schema_version,
    }


def entry_document(
    envelope: Envelope, data: dict[str, Any], digest: str, sequence: int, now: datetime
) -> dict[str, Any]:
    """The outbox entry (and event-store document) of an accepted event. A survey
    answer's value rides along in `answer`, which the event store never receives."""
    document: dict[str, Any] = {
        "_id": envelope.id,
        "type": envelope.type,
        "schema_version": envelope.schema_version,
        "occurred_at": format_instant(envelope.occurred_at),
        "employee_id": envelope.employee_id,
        "source": envelope.source,
        "data": public_data(envelope.type, data),
        "sequence": sequence,
        "accepted_at": format_instant(now),
        "fingerprint": digest,
    }
    if envelope.type == SURVEY_ANSWERED:
        document["answer"] = {
            "_id": f"{data['survey_id']}:{data['question_id']}:{envelope.employee_id}",
            "survey_id": data["survey_id"],
            "question_id": data["question_id"],
            "employee_id": envelope.employee_id,
            "kind": data["kind"],
            "value": data["value"],
            "occurred_at": sortable_instant(envelope.occurred_at),
            "sequence": sequence,
            "event_id": envelope.id,
        }
    return document


def materialize(
    store: EventStore, documents: list[dict[str, Any]], *, detect_strays: bool = True
) -> dict[str, dict[str, Any]]:
    """Write accepted outbox entries into the event store and the survey answers
    (idempotent: the request does it, and the relay again in case the request died).

    With `detect_strays`, returns the stray entries (id -> the event stored earlier): an
    id already in the event store under another sequence was accepted before, so this
    entry is taken back out of the outbox. The relay skips that check (a read per event
    costs more than everything else it does): a stray that survives a crash of the
    request in the instant between the two writes is published again under the same
    id, which consumers already deduplicate."""
    refused = store.insert_events(documents)
    stray: dict[str, dict[str, Any]] = {}
    for document in documents:
        if detect_strays and document["_id"] in refused:
            stored = store.find_stored_event(document["_id"])
            if stored is not None and stored["sequence"] != document["sequence"]:
                stray[document["_id"]] = stored
                continue
        answer = document.get("answer")
        employee = store.find_employee(document["employee_id"]) or {}
        # An erased employee's answer is not kept (it arrived before the erasure).
        if answer is not None and not employee.get("erased"):
            store.save_answer(
                {**answer, "team": employee.get("team"), "site": employee.get("site")}
            )
    return stray


def stored_event(document: dict[str, Any]) -> dict[str, Any]:
    """The event as answered over HTTP and published on Kafka (with sequence and
    accepted_at; never a survey answer's value)."""
    return {
        "id": document["_id"],
        "type": document["type"],
        "schema_version": document["schema_version"],
        "occurred_at": document["occurred_at"],
        "employee_id": document["employee_id"],
        "source": document["source"],
        "data": document["data"],
        "sequence": document["sequence"],
        "accepted_at": document["accepted_at"],
    }


def published_envelope(document: dict[str, Any]) -> Envelope:
    """The envelope the relay publishes for an outbox entry."""
    return Envelope.from_dict(stored_event(document))
