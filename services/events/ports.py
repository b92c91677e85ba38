"""The small abstract ports the events service layer (`handlers.py`) works through. The
MongoDB adapters (`adapters/event_store.py` for the service's database, whose one class
implements the event log, the outbox, the sequence blocks, the survey answers and the
directory store; `adapters/catalogue.py`), the door's copy of the directory
(`adapters/known_employees.py`) and the Kafka publisher (`adapters/publisher.py`)
implement them; unit tests use the in-memory fakes of `tests/unit/events/fakes.py`, and
`tests/integration/events/test_contracts.py` holds both to the same assertions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from services.events.domain.accepted import AcceptedEvent, SurveyAnswer


class EventLog(Protocol):
    """The door's record of accepted events. An id's acceptance record is inserted first:
    its refusal is the one "seen before?" check (an id is never looked up otherwise)."""

    def insert_accepted(self, events: Sequence[AcceptedEvent]) -> set[str]:
        """Record the acceptance of each event; the ids refused as accepted before."""
        ...

    def insert_outbox(self, events: Sequence[AcceptedEvent]) -> set[str]:
        """Queue accepted events for the relay; the ids refused as queued already."""
        ...

    def accepted(self, event_id: str) -> AcceptedEvent | None:
        """The acceptance record of an id (read after a refusal, or for a share a
        follow-up names)."""
        ...

    def queued_or_stored(self, event_id: str) -> AcceptedEvent | None:
        """The outbox entry or the event store's copy (with its sequence) of an accepted
        id; None when it was accepted and never queued."""
        ...

    def furthest(self, event_id: str) -> AcceptedEvent | None:
        """An accepted event at its furthest stage: stored (with its sequence), else
        queued, else only accepted; None for an id never accepted."""
        ...


class Outbox(Protocol):
    """The relay's side of the event log: the queue, and the event store it moves to."""

    def pending(self, limit: int) -> list[AcceptedEvent]:
        """The oldest queued events, in the order they were queued."""
        ...

    def insert_events(self, events: Sequence[AcceptedEvent]) -> set[str]:
        """Store events with their sequences (without a survey answer's value); the ids
        already stored."""
        ...

    def stored(self, event_id: str) -> AcceptedEvent | None:
        """The event store's copy of an id."""
        ...

    def delete_outbox(self, event_ids: Iterable[str]) -> None:
        """Take published (or stray) entries out of the queue."""
        ...


class SequenceBlocks(Protocol):
    """Blocks of sequence numbers, each claimed once (the claim is an insert)."""

    def highest_sequence_taken(self) -> int:
        """The highest number earlier versions wrote down, 0 when none (read once)."""
        ...

    def claim_block(self, block: int) -> bool:
        """Claim a block; False when another relay claimed it."""
        ...

    def highest_block(self) -> int | None:
        """The highest block claimed, None when none is."""
        ...


class SurveyAnswers(Protocol):
    """The survey answers the relay keeps (values included: they are never published)."""

    def save_answer(self, answer: SurveyAnswer) -> None:
        """Keep the newest answer of an employee to a question (by occurred_at, then
        sequence): the same answer twice, or an older one late, changes nothing."""
        ...

    def answers_of(self, survey_id: str) -> list[dict[str, Any]]:
        """Every stored answer of a survey (`employee_id`, `kind`, `value`,
        `occurred_at`, `sequence`, `team`, `site`, ...)."""
        ...


class DirectoryStore(Protocol):
    """The employee directory and its outbox of versioned changes (`_id`
    `<employee>:<version>`), which serializes concurrent writers of one employee."""

    def find_employee(self, employee_id: str) -> dict[str, Any] | None:
        """The entry (`_id`, the record's fields, `version`, `erased`...), erased ones
        included."""
        ...

    def employee_statuses(self) -> list[dict[str, Any]]:
        """Every entry's `_id`, `active` and `erased` (one read of the whole directory)."""
        ...

    def insert_employee_change(self, change: dict[str, Any]) -> bool:
        """Record a change to publish; False if its version is taken already."""
        ...

    def find_employee_change(self, change_id: str) -> dict[str, Any] | None:
        """One pending change."""
        ...

    def apply_employee_change(self, change: dict[str, Any]) -> None:
        """Bring the entry up to `change` unless it holds a newer version already."""
        ...

    def pending_employee_changes(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Changes to publish, each employee's in version order."""
        ...

    def delete_employee_changes(self, change_ids: Iterable[str]) -> None:
        """Take published changes out of the outbox."""
        ...

    def erase_answers_of(self, employee_id: str) -> int:
        """Right to erasure: drop an employee's survey answers; how many."""
        ...


class EmployeeCopy(Protocol):
    """What the door needs of the directory (`active`, `erased`), with no round trip."""

    def get(self, employee_id: str) -> dict[str, Any] | None:
        """`{"active", "erased"}` of an entry; None when the directory does not hold it."""
        ...

    def remember(self, employee_id: str, entry: dict[str, Any]) -> None:
        """A change this process made, seen by its door at once."""
        ...


class CatalogueStore(Protocol):
    """The catalogue's items (`kind`, `id`, their fields, `active`, `updated_at`), with a
    copy in memory for judging events."""

    def current(self, kind: str, item_id: str) -> dict[str, Any] | None:
        """The item to judge an event against (from the copy; read when it lacks it)."""
        ...

    def get(self, kind: str, item_id: str) -> dict[str, Any] | None:
        """The item as stored now."""
        ...

    def save(self, item: dict[str, Any]) -> bool:
        """Create or replace an item; True when it created it."""
        ...

    def replace(self, item: dict[str, Any]) -> None:
        """Replace an item that exists."""
        ...

    def page(self, kind: str, limit: int, after: str | None) -> list[dict[str, Any]]:
        """Up to `limit` items of a kind in id order, after the id `after`."""
        ...


class EventPublisher(Protocol):
    """Publishes on Kafka; durable when a call returns (the broker acknowledged)."""

    def publish_events(self, events: Sequence[AcceptedEvent]) -> None:
        """`cercle.events.v1`, in the order given, keyed by employee."""
        ...

    def publish_employee_changes(self, changes: Sequence[dict[str, Any]]) -> None:
        """`cercle.employees.v1`: each change's snapshot (a tombstone for an erasure)."""
        ...

    def close(self) -> None:
        """Let the connection go (after an outage, or at the end)."""
        ...
