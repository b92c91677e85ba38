"""Accepting events: the one function every door (HTTP single, HTTP batch, admin, the
inbound topic) goes through, so an event is judged the same whatever path it took."""

from __future__ import annotations

import dataclasses
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
from services.events.domain.trust import check_source_may_send, door_of, source_spoken
from services.events.known_employees import KnownEmployees
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
    """Validates, deduplicates and stores events. Storing = inserting the acceptance
    record (its unique `_id` is the dedupe), then the outbox entry the relay publishes."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock = utc_now,
        max_age: timedelta = DEFAULT_MAX_AGE,
        employees: KnownEmployees | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_age = max_age
        self.employees = employees or KnownEmployees(store)
        self.references = References(Catalogue(store.db, clock), store)

    def accept(
        self, body: Any, *, path: str, speaks_for: Sequence[str], admin: bool = False
    ) -> Outcome:
        """One event (see `accept_many`)."""
        return self.accept_many([body], path=path, speaks_for=speaks_for, admin=admin)[0]

    def accept_many(
        self,
        bodies: Sequence[Any],
        *,
        path: str,
        speaks_for: Sequence[str],
        admin: bool = False,
    ) -> list[Outcome]:
        """Judge each body independently; store the new ones with one bulk insert of
        their acceptance records and one of their outbox entries (the relay gives them
        their sequences). `speaks_for`: the sources the caller's credential speaks for
        (the first when a body names none). Raises only on an outage."""
        now = self.clock()
        batch = BatchMemory()
        outcomes: list[Outcome | None] = [None] * len(bodies)
        candidates: list[Candidate] = []
        for index, body in enumerate(bodies):
            try:
                envelope, data = self._validate(body, now, batch, admin, path, speaks_for)
                check_not_too_old(envelope.occurred_at, now, self.max_age)
            except CercleError as error:
                outcomes[index] = self._rejected(body, error, path)
                continue
            digest = fingerprint(Envelope(**{**_fields(envelope), "data": data}))
            candidates.append(Candidate(index, envelope, data, digest))
        # The same id twice in one batch: the first is stored, the others judged against it.
        firsts: dict[str, Candidate] = {}
        for candidate in candidates:
            firsts.setdefault(candidate.envelope.id, candidate)
        on_record = self._store(list(firsts.values()), now, outcomes, path) if firsts else {}
        for candidate in candidates:
            if outcomes[candidate.index] is None:
                digest, event = on_record[candidate.envelope.id]
                outcomes[candidate.index] = self._compare(candidate, digest, event, path)
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
        speaks_for: Sequence[str],
    ) -> tuple[Envelope, dict[str, Any]]:
        if not isinstance(body, dict):
            raise ValidationError("each event must be a JSON object", None)
        if len(json.dumps(body, default=str)) > MAX_EVENT_BYTES:
            raise PayloadTooLarge(f"an event may be at most {MAX_EVENT_BYTES} bytes")
        check_envelope_fields(body)
        envelope = Envelope.from_dict(body)
        check_type_allowed(envelope.type, admin=admin)
        # The credential, not the payload, says who speaks.
        source = source_spoken(body.get("source"), speaks_for)
        envelope = dataclasses.replace(envelope, source=source)
        check_source_may_send(source, envelope.type, door_of(path))
        data = validate_data(envelope.type, envelope.data)
        check_not_in_future(envelope.occurred_at, now)
        self._check_employee(envelope.employee_id)
        # Last: the catalogue and the event store are read only for an otherwise valid event.
        self.references.check(envelope, data, batch)
        return envelope, data

    def _check_employee(self, employee_id: str) -> None:
        employee = self.employees.get(employee_id)
        if employee is None or employee["erased"]:
            raise UnknownEmployee("unknown employee", "employee_id")
        if not employee["active"]:
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
        firsts: list[Candidate],
        now: datetime,
        outcomes: list[Outcome | None],
        path: str,
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        """Insert the acceptance records, then queue what they accepted; answer the new
        ones (201). Returns, per id, the fingerprint and event on record, against which
        re-sends are judged."""
        # One nonce per request, suffixed by the position: the relay reads the outbox in
        # this order, so a batch keeps its own order.
        batch_nonce = new_ulid()
        documents = {
            candidate.envelope.id: entry_document(
                candidate.envelope, candidate.data, candidate.digest, now, f"{batch_nonce}{n:04d}"
            )
            for n, candidate in enumerate(firsts)
        }
        refused = self.store.insert_accepted(
            [acceptance_record(document) for document in documents.values()]
        )
        to_queue = [document for event_id, document in documents.items() if event_id not in refused]
        on_record: dict[str, tuple[str, dict[str, Any]]] = {}
        for candidate in firsts:
            event_id = candidate.envelope.id
            if event_id not in refused:
                ACCEPTED.labels(path=path, type=candidate.envelope.type).inc()
                event = stored_event(documents[event_id])
                outcomes[candidate.index] = Outcome(201, event, None, event_id)
                on_record[event_id] = (candidate.digest, event)
                continue
            # Accepted before (the only case that reads it back).
            accepted = self.store.find_accepted(event_id)
            if accepted is None:  # pragma: no cover - acceptance records are never deleted
                raise Conflict("the event vanished while being stored; retry", "id")
            further = self.store.find_queued_or_stored(event_id)
            if further is None and accepted["fingerprint"] == candidate.digest:
                # Accepted, never queued: the process that accepted it died in between.
                # Queue it now, as it was accepted (its value, not kept there, is this one's).
                to_queue.append({**accepted, "answer": documents[event_id].get("answer")})
            on_record[event_id] = (accepted["fingerprint"], stored_event(further or accepted))
        # A refusal here is an entry queued already (by a concurrent re-send): no matter.
        self.store.insert_outbox(to_queue)
        return on_record

    def _compare(
        self, candidate: Candidate, digest: str, event: dict[str, Any], path: str
    ) -> Outcome:
        if digest != candidate.digest:
            error = Conflict("an event with this id and other content was already accepted", "id")
            return self._rejected({"id": candidate.envelope.id}, error, path)
        DUPLICATES.labels(path=path).inc()
        return Outcome(200, event, None, candidate.envelope.id)


@dataclass(frozen=True)
class Candidate:
    """A submitted event that passed every check: its place in the request, the
    envelope, the validated data and the fingerprint a re-send is compared by."""

    index: int
    envelope: Envelope
    data: dict[str, Any]
    digest: str


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


def acceptance_record(entry: dict[str, Any]) -> dict[str, Any]:
    """The `accepted` document of an outbox entry: everything but a survey answer's
    value, which stays in the outbox until the relay keeps it with the answers."""
    return {name: value for name, value in entry.items() if name != "answer"}


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
