"""Accepting events: the one function every door (HTTP single, HTTP batch, admin, the
inbound topic) goes through, so an event is judged the same whatever path it took."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from cercle_common.identifiers import new_ulid
from services.events.catalogue import BatchMemory, Catalogue, References
from services.events.domain.events import (
    MAX_EVENT_BYTES,
    check_envelope_fields,
    check_not_in_future,
    check_not_too_old,
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
# EVENT_MAX_AGE_DAYS' default, for callers without settings (tools, unit tests).
DEFAULT_MAX_AGE = timedelta(days=30)


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

    def __init__(
        self, store: EventStore, clock: Clock = utc_now, max_age: timedelta = DEFAULT_MAX_AGE
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_age = max_age
        self.references = References(Catalogue(store.db, clock), store)

    def accept(self, body: Any, *, path: str, admin: bool = False) -> Outcome:
        """One event (see `accept_many`)."""
        return self.accept_many([body], path=path, admin=admin)[0]

    def accept_many(
        self, bodies: Sequence[Any], *, path: str, admin: bool = False
    ) -> list[Outcome]:
        """Judge each body independently; store the new ones with one outbox insert (the
        relay gives them their sequences). Raises only on an outage."""
        now = self.clock()
        batch = BatchMemory()
        outcomes: list[Outcome | None] = [None] * len(bodies)
        candidates: list[tuple[int, Envelope, dict[str, Any], str]] = []
        seen: dict[str, int] = {}
        for index, body in enumerate(bodies):
            try:
                envelope, data = self._validate(body, now, batch, admin, path)
                check_not_too_old(envelope.occurred_at, now, self.max_age)
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
        # An id the event store holds was accepted and published before: it is answered
        # from there and never enters the outbox again (an `_id` read is cheap).
        new: list[tuple[int, Envelope, dict[str, Any], str]] = []
        for item in fresh:
            index, envelope, _data, digest = item
            stored = self.store.find_stored_event(envelope.id)
            if stored is None:
                new.append(item)
            else:
                outcomes[index] = self._compare(envelope.id, digest, path, stored)
        # One nonce per request, suffixed by the position: the relay reads the outbox in
        # this order, so a batch keeps its own order.
        batch_nonce = new_ulid()
        documents = {
            envelope.id: entry_document(envelope, data, digest, now, f"{batch_nonce}{n:04d}")
            for n, (_index, envelope, data, digest) in enumerate(new)
        }
        refused = self.store.insert_outbox(list(documents.values()))
        for index, envelope, _data, digest in new:
            document = documents[envelope.id]
            if envelope.id in refused:  # in the outbox already: a re-send or a race
                outcomes[index] = self._compare(envelope.id, digest, path)
                continue
            # Between the read above and the insert, the relay may have stored another
            # entry of this id and deleted it from the outbox: ours is then a stray, taken
            # back out (the relay would refuse to publish it anyway).
            stored = self.store.find_stored_event(envelope.id)
            if stored is not None and stored.get("entry") != document["entry"]:
                self.store.delete_outbox_entry(envelope.id, document["entry"])
                outcomes[index] = self._compare(envelope.id, digest, path, stored)
                continue
            ACCEPTED.labels(path=path, type=envelope.type).inc()
            outcomes[index] = Outcome(201, stored_event(stored or document), None, envelope.id)

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
    envelope: Envelope, data: dict[str, Any], digest: str, now: datetime, entry: str
) -> dict[str, Any]:
    """The outbox entry of an accepted event: no sequence yet (the relay gives it), and
    `entry`, the nonce that orders the outbox and tells this entry from another of the
    same id. A survey answer's value rides along in `answer`, which the event store
    never receives."""
    document: dict[str, Any] = {
        "_id": envelope.id,
        "type": envelope.type,
        "schema_version": envelope.schema_version,
        "occurred_at": format_instant(envelope.occurred_at),
        "employee_id": envelope.employee_id,
        "source": envelope.source,
        "data": public_data(envelope.type, data),
        "accepted_at": format_instant(now),
        "fingerprint": digest,
        "entry": entry,
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
            "event_id": envelope.id,
        }
    return document


def stored_event(document: dict[str, Any]) -> dict[str, Any]:
    """The event as answered over HTTP and published on Kafka (with accepted_at and the
    sequence, null until the relay gave it one; never a survey answer's value)."""
    return {
        "id": document["_id"],
        "type": document["type"],
        "schema_version": document["schema_version"],
        "occurred_at": document["occurred_at"],
        "employee_id": document["employee_id"],
        "source": document["source"],
        "data": document["data"],
        "sequence": document.get("sequence"),
        "accepted_at": document["accepted_at"],
    }


def published_envelope(document: dict[str, Any]) -> Envelope:
    """The envelope the relay publishes for a stored event (it has its sequence)."""
    return Envelope.from_dict(stored_event(document))
