"""In-memory fakes of the events service's ports (`services/events/ports.py`), with the
real adapters' refusals. Typed against the ports (see the checks at the end), so mypy
catches a fake drifting from the port; `tests/integration/events/test_contracts.py` runs
each fake and its real adapter through the same assertions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from services.events.domain.accepted import AcceptedEvent, SurveyAnswer
from services.events.domain.catalogue import item_key

if TYPE_CHECKING:
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


class FakeEventStore:
    """The service's database: the event log, the outbox, the sequence blocks, the survey
    answers and the directory store, as `adapters.event_store.EventStore` implements them."""

    def __init__(self) -> None:
        self.accepted_records: dict[str, AcceptedEvent] = {}
        self.outbox: dict[str, AcceptedEvent] = {}  # in the order inserted
        self.events: dict[str, AcceptedEvent] = {}
        self.sequences: dict[int, str] = {}  # numbers earlier versions wrote down
        self.blocks: set[int] = set()
        self.answers: dict[str, SurveyAnswer] = {}
        self.employees: dict[str, dict[str, Any]] = {}
        self.employee_outbox: dict[str, dict[str, Any]] = {}

    # -- EventLog ----------------------------------------------------------------------
    def insert_accepted(self, events: Sequence[AcceptedEvent]) -> set[str]:
        return _insert(self.accepted_records, [_without_answer(e) for e in events])

    def insert_outbox(self, events: Sequence[AcceptedEvent]) -> set[str]:
        return _insert(self.outbox, list(events))

    def accepted(self, event_id: str) -> AcceptedEvent | None:
        return self.accepted_records.get(event_id)

    def queued_or_stored(self, event_id: str) -> AcceptedEvent | None:
        return self.outbox.get(event_id) or self.events.get(event_id)

    def furthest(self, event_id: str) -> AcceptedEvent | None:
        accepted = self.accepted(event_id)
        if accepted is None:
            return None
        return self.queued_or_stored(event_id) or accepted

    # -- Outbox ------------------------------------------------------------------------
    def pending(self, limit: int) -> list[AcceptedEvent]:
        return list(self.outbox.values())[:limit]

    def insert_events(self, events: Sequence[AcceptedEvent]) -> set[str]:
        return _insert(self.events, [_without_answer(e) for e in events])

    def stored(self, event_id: str) -> AcceptedEvent | None:
        return self.events.get(event_id)

    def delete_outbox(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self.outbox.pop(event_id, None)

    # -- SequenceBlocks ----------------------------------------------------------------
    def highest_sequence_taken(self) -> int:
        return max(self.sequences, default=0)

    def claim_block(self, block: int) -> bool:
        if block in self.blocks:
            return False
        self.blocks.add(block)
        return True

    def highest_block(self) -> int | None:
        return max(self.blocks, default=None)

    # -- SurveyAnswers -----------------------------------------------------------------
    def save_answer(self, answer: SurveyAnswer) -> None:
        current = self.answers.get(answer.key)
        if current is not None and _answer_order(current) >= _answer_order(answer):
            return
        self.answers[answer.key] = answer

    def answers_of(self, survey_id: str) -> list[dict[str, Any]]:
        return [
            {"_id": answer.key, **dataclasses.asdict(answer)}
            for answer in self.answers.values()
            if answer.survey_id == survey_id
        ]

    # -- DirectoryStore ----------------------------------------------------------------
    def find_employee(self, employee_id: str) -> dict[str, Any] | None:
        entry = self.employees.get(employee_id)
        return None if entry is None else dict(entry)

    def employee_statuses(self) -> list[dict[str, Any]]:
        return [
            {"_id": employee_id, "active": entry["active"], "erased": entry["erased"]}
            for employee_id, entry in self.employees.items()
        ]

    def insert_employee_change(self, change: dict[str, Any]) -> bool:
        if change["_id"] in self.employee_outbox:
            return False
        self.employee_outbox[change["_id"]] = dict(change)
        return True

    def find_employee_change(self, change_id: str) -> dict[str, Any] | None:
        return self.employee_outbox.get(change_id)

    def apply_employee_change(self, change: dict[str, Any]) -> None:
        current = self.employees.get(change["employee_id"])
        if current is not None and current["version"] >= change["version"]:
            return
        # The Document's defaults, as the real store fills them.
        entry: dict[str, Any] = {
            "_id": change["employee_id"],
            "fte": 1.0,
            "visibility": "visible",
            "active": True,
            "erased": False,
        }
        entry.update(change["record"])
        entry.update(version=change["version"], updated_at=change["created_at"])
        self.employees[change["employee_id"]] = entry

    def pending_employee_changes(self, limit: int | None = None) -> list[dict[str, Any]]:
        changes = list(self.employee_outbox.values())
        changes = changes[:limit] if limit else changes
        return sorted(changes, key=lambda change: (change["employee_id"], change["version"]))

    def delete_employee_changes(self, change_ids: Iterable[str]) -> None:
        for change_id in change_ids:
            self.employee_outbox.pop(change_id, None)

    def erase_answers_of(self, employee_id: str) -> int:
        erased = [key for key, a in self.answers.items() if a.employee_id == employee_id]
        for key in erased:
            del self.answers[key]
        return len(erased)


class FakeEmployeeCopy:
    """The door's copy of the directory, always current (no refresh to wait for)."""

    def __init__(self, store: FakeEventStore) -> None:
        self.store = store

    def get(self, employee_id: str) -> dict[str, Any] | None:
        entry = self.store.find_employee(employee_id)
        if entry is None:
            return None
        return {"active": bool(entry.get("active", True)), "erased": bool(entry.get("erased"))}

    def remember(self, employee_id: str, entry: dict[str, Any]) -> None:
        return None  # read through: nothing to remember


class FakeCatalogue:
    """The catalogue's items by `<kind>:<id>`."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def current(self, kind: str, item_id: str) -> dict[str, Any] | None:
        return self.get(kind, item_id)

    def get(self, kind: str, item_id: str) -> dict[str, Any] | None:
        item = self.items.get(item_key(kind, item_id))
        return None if item is None else dict(item)

    def save(self, item: dict[str, Any]) -> bool:
        key = item_key(item["kind"], item["id"])
        created = key not in self.items
        self.items[key] = dict(item)
        return created

    def replace(self, item: dict[str, Any]) -> None:
        key = item_key(item["kind"], item["id"])
        if key in self.items:
            self.items[key] = dict(item)

    def page(self, kind: str, limit: int, after: str | None) -> list[dict[str, Any]]:
        found = sorted(
            (dict(item) for item in self.items.values() if item["kind"] == kind),
            key=lambda item: item["id"],
        )
        return [item for item in found if not after or item["id"] > after][:limit]


class FakePublisher:
    """What the relay published, in order; `down` makes every call an outage."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.employee_changes: list[dict[str, Any]] = []
        self.down = False
        self.closed = 0

    def publish_events(self, events: Sequence[AcceptedEvent]) -> None:
        self._check()
        self.events.extend(event.envelope().to_dict() for event in events)

    def publish_employee_changes(self, changes: Sequence[dict[str, Any]]) -> None:
        self._check()
        self.employee_changes.extend(changes)

    def close(self) -> None:
        self.closed += 1

    def _check(self) -> None:
        if self.down:
            from cercle_common.errors import InfrastructureError

            raise InfrastructureError("the broker is down")


def _insert(collection: dict[str, AcceptedEvent], events: list[AcceptedEvent]) -> set[str]:
    refused = set()
    for event in events:
        if event.id in collection:
            refused.add(event.id)
        else:
            collection[event.id] = event
    return refused


def _without_answer(event: AcceptedEvent) -> AcceptedEvent:
    return dataclasses.replace(event, answer=None)


def _answer_order(answer: SurveyAnswer) -> tuple[str, int]:
    return (answer.occurred_at, answer.sequence or 0)


if TYPE_CHECKING:
    # The fakes implement the ports (mypy checks these assignments).
    _store = FakeEventStore()
    _event_log: EventLog = _store
    _outbox: Outbox = _store
    _blocks: SequenceBlocks = _store
    _answers: SurveyAnswers = _store
    _directory: DirectoryStore = _store
    _copy: EmployeeCopy = FakeEmployeeCopy(_store)
    _catalogue: CatalogueStore = FakeCatalogue()
    _publisher: EventPublisher = FakePublisher()
