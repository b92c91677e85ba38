"""The events service layer: every change the service makes goes through here, the same
way whatever the door (HTTP single, HTTP batch, admin, the inbound topic, a command-line
tool), so an event is judged the same whatever path it took.

- `Ingestion`, the door: judges a batch against in-memory copies of the directory and
  the catalogue, then records it with two bulk inserts and no read (`EventLog`).
- `Directory`: employees saved and erased through a versioned outbox of changes.
- `Catalogue`: the administrators' contents, courses and surveys.
- `enps_report`: a survey's eNPS (the maths and the suppression are in the domain).
- `OutboxRelay`: one turn of the relay: sequences, the event store, Kafka, in that order.

Handlers work through the ports (`ports.py`); `bootstrap.py` wires the real adapters."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import Counter, Gauge

from cercle_common.envelope import Envelope, format_instant
from cercle_common.errors import (
    CercleError,
    Conflict,
    InfrastructureError,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from cercle_common.identifiers import new_ulid
from cercle_common.topics import EMPLOYEES, EVENTS
from services.events.domain.accepted import AcceptedEvent, accepted_event
from services.events.domain.catalogue import (
    CONTENT_SHARED,
    REFERENCES,
    SHARE_FOLLOW_UPS,
    ShareOnRecord,
    check_against_item,
    check_item_id,
    check_share_reference,
    parse_item,
)
from services.events.domain.directory import (
    PERSONAL_FIELDS,
    EmployeeRecord,
    same_record,
    snapshot,
)
from services.events.domain.enps import (
    EnpsAnswer,
    check_window,
    group_enps,
    latest_per_employee,
    parse_month_start,
)
from services.events.domain.events import (
    MAX_EVENT_BYTES,
    check_envelope_fields,
    check_not_in_future,
    check_not_too_old,
    check_type_allowed,
    fingerprint,
    validate_data,
)
from services.events.domain.trust import check_source_may_send, door_of, source_spoken
from services.events.ports import (
    CatalogueStore,
    DirectoryStore,
    EmployeeCopy,
    EventLog,
    EventPublisher,
    Outbox,
    SequenceBlocks,
    SurveyAnswers,
)

log = logging.getLogger(__name__)

ACCEPTED = Counter("cercle_events_accepted_total", "Events accepted (new)", ["path", "type"])
DUPLICATES = Counter(
    "cercle_events_duplicates_total", "Events re-sent with the same id and content", ["path"]
)
REJECTED = Counter("cercle_events_rejected_total", "Events refused", ["path", "code"])
PUBLISHED = Counter("cercle_events_published_total", "Outbox entries published", ["topic"])
PENDING = Gauge("cercle_events_outbox_pending", "Accepted events not yet published")
STRAYS = Counter(
    "cercle_events_relay_strays_total", "Outbox entries of an id stored earlier, not published"
)

Clock = Callable[[], datetime]
# EVENT_MAX_AGE_DAYS' default, for callers without settings (tools, unit tests).
DEFAULT_MAX_AGE = timedelta(days=30)


def utc_now() -> datetime:
    """The service's clock."""
    return datetime.now(UTC)


# == the door ==========================================================================


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


@dataclass(frozen=True)
class Candidate:
    """A submitted event that passed every check: its place in the request, the
    envelope, the validated data and the fingerprint a re-send is compared by."""

    index: int
    envelope: Envelope
    data: dict[str, Any]
    digest: str


@dataclass
class BatchMemory:
    """What judging one batch has looked up or let through so far: the shares read or
    accepted earlier in the same batch (a share and what it drew may arrive together)."""

    shares: dict[str, ShareOnRecord] = field(default_factory=dict)


class References:
    """Checks that an event names what exists: a catalogue item (contents, courses,
    surveys) or, for a share's follow-up, an accepted share of the same employee."""

    def __init__(self, catalogue: CatalogueStore, events: EventLog) -> None:
        self.catalogue = catalogue
        self.events = events

    def check(self, envelope: Envelope, data: dict[str, Any], batch: BatchMemory) -> None:
        """Raises `ValidationError` naming `data.<field>`; remembers a share that passed."""
        if envelope.type in REFERENCES:
            kind, field_name = REFERENCES[envelope.type]
            item = self.catalogue.current(kind, data[field_name])
            check_against_item(envelope.type, data, envelope.occurred_at, item)
            if envelope.type == CONTENT_SHARED:
                batch.shares[envelope.id] = ShareOnRecord(envelope.type, envelope.employee_id)
        elif envelope.type in SHARE_FOLLOW_UPS:
            share_id = data["share_event_id"]
            check_share_reference(envelope.employee_id, self._share(share_id, batch))

    def _share(self, share_id: str, batch: BatchMemory) -> ShareOnRecord | None:
        if share_id in batch.shares:
            return batch.shares[share_id]
        stored = self.events.accepted(share_id)
        if stored is None:
            return None
        # Each report of a share's reach names it again: one read per batch.
        batch.shares[share_id] = ShareOnRecord(stored.type, stored.employee_id)
        return batch.shares[share_id]


class Ingestion:
    """Validates, deduplicates and records events. Recording = inserting the acceptance
    records (their unique ids are the dedupe), then the outbox entries the relay
    publishes. `store` is the event log; given only that (tools, tests), the door's copies
    of the directory and the catalogue are made over the same database (see
    `bootstrap.door_copies`)."""

    def __init__(
        self,
        store: EventLog,
        clock: Clock = utc_now,
        max_age: timedelta = DEFAULT_MAX_AGE,
        employees: EmployeeCopy | None = None,
        catalogue: CatalogueStore | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_age = max_age
        if employees is None or catalogue is None:
            # Imported here: the service layer names no adapter, bootstrap does.
            from services.events.bootstrap import door_copies

            default_employees, default_catalogue = door_copies(store)
            employees = employees or default_employees
            catalogue = catalogue or default_catalogue
        self.employees = employees
        self.references = References(catalogue, store)

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
        """Judge each body independently; record the new ones with one bulk insert of
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
            digest = fingerprint(dataclasses.replace(envelope, data=data))
            candidates.append(Candidate(index, envelope, data, digest))
        # The same id twice in one batch: the first is stored, the others judged against it.
        firsts: dict[str, Candidate] = {}
        for candidate in candidates:
            firsts.setdefault(candidate.envelope.id, candidate)
        on_record = self._record(list(firsts.values()), now, outcomes, path) if firsts else {}
        for candidate in candidates:
            if outcomes[candidate.index] is None:
                recorded_digest, event = on_record[candidate.envelope.id]
                outcomes[candidate.index] = self._compare(candidate, recorded_digest, event, path)
        return [outcome for outcome in outcomes if outcome is not None]

    def stored(self, event_id: str) -> dict[str, Any]:
        """An accepted event as answered and published; `NotFound` otherwise."""
        event = self.store.furthest(event_id)
        if event is None:
            raise NotFound("no accepted event has this id", "id")
        return event.published()

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
        # Last: the catalogue and the event log are read only for an otherwise valid event.
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

    # -- recording ---------------------------------------------------------------------
    def _record(
        self,
        firsts: list[Candidate],
        now: datetime,
        outcomes: list[Outcome | None],
        path: str,
    ) -> dict[str, tuple[str | None, dict[str, Any]]]:
        """Insert the acceptance records, then queue what they accepted; answer the new
        ones (201). Returns, per id, the fingerprint and event on record, against which
        re-sends are judged."""
        # One nonce per request, suffixed by the position: the relay reads the outbox in
        # this order, so a batch keeps its own order.
        batch_nonce = new_ulid()
        events = {
            candidate.envelope.id: accepted_event(
                candidate.envelope, candidate.data, candidate.digest, now, f"{batch_nonce}{n:04d}"
            )
            for n, candidate in enumerate(firsts)
        }
        refused = self.store.insert_accepted(list(events.values()))
        to_queue = [event for event_id, event in events.items() if event_id not in refused]
        on_record: dict[str, tuple[str | None, dict[str, Any]]] = {}
        for candidate in firsts:
            event_id = candidate.envelope.id
            if event_id not in refused:
                ACCEPTED.labels(path=path, type=candidate.envelope.type).inc()
                published = events[event_id].published()
                outcomes[candidate.index] = Outcome(201, published, None, event_id)
                on_record[event_id] = (candidate.digest, published)
                continue
            # Accepted before (the only case that reads it back).
            accepted = self.store.accepted(event_id)
            if accepted is None:  # pragma: no cover - acceptance records are never deleted
                raise Conflict("the event vanished while being stored; retry", "id")
            further = self.store.queued_or_stored(event_id)
            if further is None and accepted.fingerprint == candidate.digest:
                # Accepted, never queued: the process that accepted it died in between.
                # Queue it now, as it was accepted (its value, not kept there, is this one's).
                to_queue.append(dataclasses.replace(accepted, answer=events[event_id].answer))
            on_record[event_id] = (accepted.fingerprint, (further or accepted).published())
        # A refusal here is an entry queued already (by a concurrent re-send): no matter.
        self.store.insert_outbox(to_queue)
        return on_record

    def _compare(
        self, candidate: Candidate, digest: str | None, event: dict[str, Any], path: str
    ) -> Outcome:
        if digest != candidate.digest:
            error = Conflict("an event with this id and other content was already accepted", "id")
            return self._rejected({"id": candidate.envelope.id}, error, path)
        DUPLICATES.labels(path=path).inc()
        return Outcome(200, event, None, candidate.envelope.id)


# == the directory =====================================================================

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Saved:
    """Result of a directory write: whether the employee is new, and the entry."""

    created: bool
    employee: dict[str, Any]


class Directory:
    """Save and erase employees, each change recorded as a versioned outbox entry
    (`<employee>:<version>`) that the relay publishes on `cercle.employees.v1`.

    The outbox entry is written first and is the commit: the directory entry is then
    brought up to it (by the request, or by the relay if the request died in between).
    Its `_id` also serializes concurrent writers of one employee: two cannot take the
    same version."""

    def __init__(
        self, store: DirectoryStore, clock: Clock = utc_now, known: EmployeeCopy | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        # The door's copy in this process, told of every change made here.
        self.known = known

    def save(self, employee_id: str, record: EmployeeRecord) -> Saved:
        """Create or replace an employee's entry; an identical save publishes nothing."""
        for _attempt in range(MAX_ATTEMPTS):
            current = self.store.find_employee(employee_id)
            if current is not None and same_record(current, record):
                return Saved(False, public_entry(current))
            created = current is None or bool(current.get("erased"))
            version = (current or {}).get("version", 0) + 1
            fields = {**record.as_dict(), "erased": False}
            if self._commit(employee_id, version, fields, snapshot(employee_id, fields, version)):
                stored = self.store.find_employee(employee_id) or {}
                self._tell_door(employee_id, stored)
                return Saved(created, public_entry(stored))
        raise InfrastructureError("too many concurrent changes to this employee; retry")

    def erase(self, employee_id: str) -> dict[str, Any]:
        """Right to erasure: drop names, email and pseudonym, mark the entry erased and
        publish a tombstone so the other services drop the person. Idempotent."""
        for _attempt in range(MAX_ATTEMPTS):
            current = self.store.find_employee(employee_id)
            if current is None:
                raise NotFound("unknown employee", "employee_id")
            if current.get("erased"):
                # Again, in case an earlier erasure stopped before its answers were gone.
                self.store.erase_answers_of(employee_id)
                return {"id": employee_id, "erased": True}
            version = current.get("version", 0) + 1
            fields: dict[str, Any] = {name: None for name in PERSONAL_FIELDS}
            fields.update(active=False, erased=True)
            if self._commit(employee_id, version, fields, None):
                self._tell_door(employee_id, fields)
                self.store.erase_answers_of(employee_id)
                return {"id": employee_id, "erased": True}
        raise InfrastructureError("too many concurrent changes to this employee; retry")

    def get(self, employee_id: str) -> dict[str, Any]:
        """One employee's full entry (email included: an internal API)."""
        current = self.store.find_employee(employee_id)
        if current is None or current.get("erased"):
            raise NotFound("unknown employee", "employee_id")
        return public_entry(current)

    def get_many(self, employee_ids: list[str]) -> list[dict[str, Any]]:
        """What the gateway needs to show people; unknown or erased ids are left out.
        One `_id` read each: on the local server an `$in` scans the collection."""
        found = []
        for employee_id in dict.fromkeys(employee_ids):
            current = self.store.find_employee(employee_id)
            if current is not None and not current.get("erased"):
                entry = public_entry(current)
                entry.pop("email")
                entry.pop("version")
                found.append(entry)
        return found

    def _tell_door(self, employee_id: str, entry: dict[str, Any]) -> None:
        if self.known is not None:
            self.known.remember(employee_id, entry)

    def _commit(
        self,
        employee_id: str,
        version: int,
        fields: dict[str, Any],
        message: dict[str, Any] | None,
    ) -> bool:
        change: dict[str, Any] = {
            "_id": change_id(employee_id, version),
            "employee_id": employee_id,
            "version": version,
            "record": fields,
            "snapshot": message,
            "created_at": format_instant(self.clock()),
        }
        if not self.store.insert_employee_change(change):
            # Someone holds this version: finish their change, then try again on top.
            pending = self.store.find_employee_change(change["_id"])
            if pending is not None:
                self.store.apply_employee_change(pending)
            return False
        self.store.apply_employee_change(change)
        return True


def change_id(employee_id: str, version: int) -> str:
    """The outbox `_id` of one version of an employee."""
    return f"{employee_id}:{version:012d}"


def public_entry(document: dict[str, Any]) -> dict[str, Any]:
    """A stored directory entry as the HTTP API answers it."""
    return {
        "id": document["_id"],
        "display_name": document.get("display_name"),
        "email": document.get("email"),
        "pseudonym": document.get("pseudonym"),
        "visibility": document.get("visibility"),
        "team": document.get("team"),
        "department": document.get("department"),
        "site": document.get("site"),
        "country": document.get("country"),
        "locale": document.get("locale"),
        "fte": document.get("fte"),
        "active": document.get("active"),
        "version": document.get("version"),
    }


# == the catalogue =====================================================================


@dataclass(frozen=True)
class SavedItem:
    """An item as stored, and whether the `PUT` created it."""

    item: dict[str, Any]
    created: bool


class Catalogue:
    """Admin-managed contents, courses and surveys. Withdrawing an item keeps it (flagged
    `active: false`): events already accepted keep naming something, new ones are refused."""

    def __init__(self, store: CatalogueStore, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock

    def put(self, kind: str, item_id: str, body: dict[str, Any]) -> SavedItem:
        """Create or replace an item (it becomes active)."""
        item = {
            **parse_item(kind, item_id, body),
            "active": True,
            "updated_at": format_instant(self.clock()),
        }
        return SavedItem(item, self.store.save(item))

    def withdraw(self, kind: str, item_id: str) -> dict[str, Any]:
        """Take an item out of use (`DELETE`); it stays readable, flagged inactive."""
        stored = self.store.get(kind, check_item_id(item_id))
        if stored is None:
            raise NotFound(f"no {kind} has this id", "id")
        withdrawn = {**stored, "active": False, "updated_at": format_instant(self.clock())}
        self.store.replace(withdrawn)
        return withdrawn

    def get(self, kind: str, item_id: str) -> dict[str, Any]:
        """One item, withdrawn or not; `NotFound` otherwise."""
        stored = self.store.get(kind, check_item_id(item_id))
        if stored is None:
            raise NotFound(f"no {kind} has this id", "id")
        return stored

    def list(self, kind: str, first: int, after: str | None) -> dict[str, Any]:
        """Items of a kind in id order, `first` at a time after the id `after`."""
        found = self.store.page(kind, first + 1, after)
        items = found[:first]
        more = len(found) > first
        return {"items": items, "next_after": items[-1]["id"] if more else None}


# == surveys ===========================================================================


def enps_report(
    store: SurveyAnswers,
    survey_id: str,
    *,
    team: str | None,
    site: str | None,
    start: str | None,
    end: str | None,
    min_group: int,
    time_zone: str,
) -> dict[str, Any]:
    """The eNPS of a survey: each employee's latest `enps` answer, in the slice and the
    window; figures only when the slice is published in every month of the window with
    answers in it (primary and complementary suppression, decided per month from all the
    answers of that month: see `published_slices`). Months are cut in the organisation's
    time zone."""
    first = parse_month_start(start, "from")
    last = parse_month_start(end, "to")
    check_window(first, last)
    zone = ZoneInfo(time_zone)
    answers = latest_per_employee(
        EnpsAnswer(
            employee_id=answer["employee_id"],
            score=answer["value"],
            month=_local_day(answer["occurred_at"], zone).strftime("%Y-%m"),
            team=answer.get("team"),
            site=answer.get("site"),
            order=(answer["occurred_at"], answer.get("sequence") or 0),
        )
        for answer in store.answers_of(survey_id)
        if answer.get("kind") == "enps"
    )
    in_window = [a for a in answers if _within(a.month, first, last)]
    result = group_enps(in_window, team=team or None, site=site or None, min_group=min_group)
    return {
        "survey_id": survey_id,
        "team": team or None,
        "site": site or None,
        "from": start or None,
        "to": end or None,
        "min_group": min_group,
        **result.as_dict(),
    }


def _local_day(occurred_at: str, zone: ZoneInfo) -> date:
    return datetime.fromisoformat(occurred_at.replace("Z", "+00:00")).astimezone(zone).date()


def _within(month: str, first: date | None, last: date | None) -> bool:
    # Windows are whole months, so comparing months as YYYY-MM text is exact.
    if first is not None and month < first.strftime("%Y-%m"):
        return False
    return last is None or month < last.strftime("%Y-%m")


# == the relay =========================================================================

BATCH = 10_000
# Numbers a relay takes at a time: it starts in a fresh block (a restart leaves a gap of
# at most this many numbers; sequences stay far below the 2**32 the boards can order).
SEQUENCE_BLOCK = 10_000


def block_of(sequence: int) -> int:
    """The block a sequence number belongs to (block b holds b*BLOCK+1 .. (b+1)*BLOCK)."""
    return (sequence - 1) // SEQUENCE_BLOCK


class RelayDisplaced(RuntimeError):
    """A sequence number this relay was about to use is already claimed: another relay
    publishes from the same database. This one stops rather than interleave with it."""


class OutboxRelay:
    """One turn (`run_once`) moves the outbox to Kafka: give each pending event the next
    number of a block this relay claimed (blocks are claimed by insert, one relay each,
    so no number is ever given twice), store it with its sequence, publish in sequence
    order, and only once the broker acknowledged take it out of the outbox. Same for
    directory changes. A crash anywhere republishes at worst, same id and sequence."""

    def __init__(
        self,
        outbox: Outbox,
        blocks: SequenceBlocks,
        answers: SurveyAnswers,
        directory: DirectoryStore,
        publisher: EventPublisher,
    ) -> None:
        self.outbox = outbox
        self.blocks = blocks
        self.answers = answers
        self.directory = directory
        self.publisher = publisher
        # The next sequence to claim, and the block it is in; a fresh block is claimed on
        # the first turn, and again after an outage (a claim may have half-succeeded).
        self._next_sequence: int | None = None
        self._block: int | None = None

    def run_once(self) -> int:
        """Publish what is pending; returns how many entries were published (or dropped
        as strays)."""
        return self._publish_events() + self._publish_directory()

    def forget_block(self) -> None:
        """After an outage: the next turn claims a fresh block."""
        self._next_sequence = None
        self._block = None

    # -- events ------------------------------------------------------------------------
    def _publish_events(self) -> int:
        pending = self.outbox.pending(BATCH)
        PENDING.set(len(pending))
        if not pending:
            return 0
        ready, strays = self._store_with_sequences(pending)
        if ready:
            self.publisher.publish_events(ready)
            PUBLISHED.labels(topic=EVENTS).inc(len(ready))
        if strays:
            STRAYS.inc(len(strays))
            log.info("relay: stray outbox entries dropped", extra={"count": len(strays)})
        self.outbox.delete_outbox([event.id for event in ready] + strays)
        return len(ready) + len(strays)

    def _store_with_sequences(
        self, pending: Sequence[AcceptedEvent]
    ) -> tuple[list[AcceptedEvent], list[str]]:
        """Give each entry a claimed sequence and store it; returns the events to publish,
        in sequence order, and the ids of stray entries."""
        first = self._claim(len(pending))
        candidates = [
            dataclasses.replace(entry, sequence=first + offset)
            for offset, entry in enumerate(pending)
        ]
        already_stored = self.outbox.insert_events(candidates)
        ready: list[AcceptedEvent] = []
        strays: list[str] = []
        for candidate in candidates:
            event = candidate
            if candidate.id in already_stored:
                stored = self.outbox.stored(candidate.id)
                if stored is None:  # pragma: no cover - the event store is insert-only
                    continue
                if stored.entry != candidate.entry:
                    strays.append(candidate.id)
                    continue
                # This very entry was stored before a crash: publish it again with the
                # sequence it was stored with (its claimed number here stays unused).
                event = dataclasses.replace(stored, answer=candidate.answer)
            self._save_answer(event)
            ready.append(event)
        ready.sort(key=lambda event: event.sequence or 0)
        return ready, strays

    def _claim(self, count: int) -> int:
        if self._next_sequence is None or self._block is None:
            self._block, self._next_sequence = self._start_in_a_fresh_block()
        elif (self.blocks.highest_block() or 0) > self._block:
            raise RelayDisplaced(f"a block after {self._block} was claimed by another relay")
        first = self._next_sequence
        last = first + count - 1
        # A number is this relay's once its block is: blocks are claimed by insert, one
        # relay each, so no number is ever given twice (and no number is written down).
        for block in range(self._block + 1, block_of(last) + 1):
            if not self.blocks.claim_block(block):
                raise RelayDisplaced(f"block {block} is claimed by another relay")
            self._block = block
        self._next_sequence = last + 1
        return first

    def _start_in_a_fresh_block(self) -> tuple[int, int]:
        """The block after every block claimed, and its first number. A database written
        before blocks existed is read whole once, to start after its highest number."""
        highest = self.blocks.highest_block()
        if highest is None:
            taken = self.blocks.highest_sequence_taken()
            block = block_of(taken) + 1 if taken else 0
        else:
            block = highest + 1
        if not self.blocks.claim_block(block):
            raise RelayDisplaced(f"block {block} is claimed by another relay")
        return block, block * SEQUENCE_BLOCK + 1

    def _save_answer(self, event: AcceptedEvent) -> None:
        # A survey answer's value is kept here (never published); an erased employee's
        # answer, which arrived before the erasure, is not.
        answer = event.answer
        if answer is None:
            return
        employee = self.directory.find_employee(event.employee_id) or {}
        if not employee.get("erased"):
            self.answers.save_answer(
                dataclasses.replace(
                    answer,
                    sequence=event.sequence,
                    team=employee.get("team"),
                    site=employee.get("site"),
                )
            )

    # -- directory -----------------------------------------------------------------------
    def _publish_directory(self) -> int:
        changes = self.directory.pending_employee_changes()
        if not changes:
            return 0
        for change in changes:
            self.directory.apply_employee_change(change)
        self.publisher.publish_employee_changes(changes)
        PUBLISHED.labels(topic=EMPLOYEES).inc(len(changes))
        self.directory.delete_employee_changes(change["_id"] for change in changes)
        return len(changes)
