"""One contract per port of the events service (`services/events/ports.py`): each test
runs against the in-memory fake the unit tests use (`tests/unit/events/fakes.py`) and the
real adapter (FerretDB, Kafka), through the same assertions, so a fake cannot drift from
what it stands for."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import mongoengine
import pytest

from cercle_common.envelope import Envelope
from cercle_common.messaging import make_producer
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.events.adapters.catalogue import MongoCatalogue
from services.events.adapters.documents import ALIAS
from services.events.adapters.event_store import EventStore
from services.events.adapters.known_employees import KnownEmployees
from services.events.adapters.publisher import KafkaEventPublisher
from services.events.domain.accepted import AcceptedEvent, SurveyAnswer, accepted_event
from services.events.domain.events import fingerprint
from tests.unit.events.fakes import (
    FakeCatalogue,
    FakeEmployeeCopy,
    FakeEventStore,
    FakePublisher,
)

IMPLEMENTATIONS = ["fake", "real"]
Store = FakeEventStore | EventStore


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Store]:
    """The service's database: event log, outbox, sequence blocks, survey answers and
    directory store (one adapter implements them all)."""
    if request.param == "fake":
        yield FakeEventStore()
        return
    real = EventStore.connect(settings)
    try:
        yield real
    finally:
        real.db.client.drop_database(real.db.name)
        mongoengine.disconnect(alias=ALIAS)  # closes the client


@pytest.fixture(params=IMPLEMENTATIONS)
def catalogue(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Any]:
    if request.param == "fake":
        yield FakeCatalogue()
        return
    real = EventStore.connect(settings)
    try:
        yield MongoCatalogue(real.db)
    finally:
        real.db.client.drop_database(real.db.name)
        mongoengine.disconnect(alias=ALIAS)


def _event(employee_id: str = "e-1", **data: Any) -> AcceptedEvent:
    envelope = Envelope(
        id=f"ev-{uuid.uuid4().hex}",
        type="content.shared",
        occurred_at=datetime.now(UTC),
        employee_id=employee_id,
        data={"content_id": "c-1", "network": "x", "url": "https://example.org/p", **data},
        source="social-tracker",
    )
    return accepted_event(
        envelope, envelope.data, fingerprint(envelope), datetime.now(UTC), uuid.uuid4().hex
    )


def _answered(value: int = 9, employee_id: str = "e-1") -> AcceptedEvent:
    envelope = Envelope(
        id=f"ev-{uuid.uuid4().hex}",
        type="survey.answered",
        occurred_at=datetime.now(UTC),
        employee_id=employee_id,
        data={"survey_id": "s", "question_id": "q", "kind": "enps", "value": value},
        source="survey-tool",
    )
    return accepted_event(
        envelope, envelope.data, fingerprint(envelope), datetime.now(UTC), uuid.uuid4().hex
    )


# -- EventLog ----------------------------------------------------------------------------


def test_an_id_is_accepted_once_and_read_back_as_accepted(store: Store) -> None:
    event = _event()
    assert store.insert_accepted([event]) == set()
    assert store.insert_accepted([dataclasses.replace(event, entry="other")]) == {event.id}
    assert store.accepted(event.id) == event
    assert store.accepted("ev-never") is None


def test_the_acceptance_record_never_holds_a_survey_answers_value(store: Store) -> None:
    event = _answered()
    store.insert_accepted([event])
    store.insert_outbox([event])
    accepted = store.accepted(event.id)
    assert accepted is not None and accepted.answer is None
    assert "value" not in accepted.data
    queued = store.queued_or_stored(event.id)
    assert queued is not None and queued.answer is not None and queued.answer.value == 9


def test_an_event_is_found_at_its_furthest_stage(store: Store) -> None:
    event = _event()
    assert store.furthest(event.id) is None
    store.insert_accepted([event])
    assert store.queued_or_stored(event.id) is None
    assert store.furthest(event.id) == event
    assert store.insert_outbox([event]) == set()
    assert store.insert_outbox([event]) == {event.id}
    assert store.queued_or_stored(event.id) == event
    numbered = dataclasses.replace(event, sequence=41)
    assert store.insert_events([numbered]) == set()
    store.delete_outbox([event.id])
    assert store.queued_or_stored(event.id) == numbered
    found = store.furthest(event.id)
    assert found is not None and found.published()["sequence"] == 41


# -- Outbox ------------------------------------------------------------------------------


def test_the_outbox_is_read_in_the_order_queued_with_a_limit(store: Store) -> None:
    events = [_event() for _ in range(3)]
    store.insert_outbox(list(reversed(events)))
    assert [event.id for event in store.pending(2)] == [events[2].id, events[1].id]
    store.delete_outbox([events[2].id, "ev-never"])
    assert [event.id for event in store.pending(10)] == [events[1].id, events[0].id]


def test_the_event_store_keeps_the_first_copy_of_an_id_without_its_answer(store: Store) -> None:
    event = dataclasses.replace(_answered(), sequence=7)
    assert store.insert_events([event]) == set()
    assert store.insert_events([dataclasses.replace(event, sequence=8)]) == {event.id}
    assert store.stored(event.id) == dataclasses.replace(event, answer=None)
    assert store.stored("ev-never") is None


# -- SequenceBlocks ----------------------------------------------------------------------


def test_a_block_is_claimed_once(store: Store) -> None:
    assert store.highest_block() is None
    assert store.highest_sequence_taken() == 0
    assert store.claim_block(0) is True
    assert store.claim_block(0) is False
    assert store.claim_block(3) is True
    assert store.highest_block() == 3


# -- SurveyAnswers -----------------------------------------------------------------------


def test_the_newest_answer_of_an_employee_to_a_question_is_kept(store: Store) -> None:
    first = SurveyAnswer("s", "q", "e-1", "enps", 3, "2026-11-02T09:00:00.000000Z", "a", 1)
    later = dataclasses.replace(first, value=9, occurred_at="2026-11-03T09:00:00.000000Z")
    store.save_answer(dataclasses.replace(later, sequence=2, team="growth", site="paris"))
    store.save_answer(first)  # older, arriving late
    store.save_answer(dataclasses.replace(first, survey_id="other"))
    [kept] = store.answers_of("s")
    assert (kept["value"], kept["sequence"], kept["team"], kept["site"]) == (
        9,
        2,
        "growth",
        "paris",
    )
    assert kept["employee_id"] == "e-1" and kept["kind"] == "enps"
    assert store.erase_answers_of("e-1") == 2
    assert store.answers_of("s") == []


# -- DirectoryStore ----------------------------------------------------------------------


def _change(employee_id: str, version: int, **record: Any) -> dict[str, Any]:
    return {
        "_id": f"{employee_id}:{version:012d}",
        "employee_id": employee_id,
        "version": version,
        "record": {"display_name": "Ann Lee", "email": "ann@example.org", **record},
        "snapshot": {"employee_id": employee_id, "version": version},
        "created_at": "2026-11-26T09:00:00Z",
    }


def test_a_version_of_an_employee_is_taken_once(store: Store) -> None:
    change = _change("e-1", 1)
    assert store.insert_employee_change(change) is True
    assert store.insert_employee_change({**change, "record": {}}) is False
    found = store.find_employee_change(change["_id"])
    assert found is not None and found["record"] == change["record"]
    assert store.find_employee_change("e-1:000000000009") is None


def test_the_directory_holds_the_newest_change_applied(store: Store) -> None:
    assert store.find_employee("e-1") is None
    store.apply_employee_change(_change("e-1", 2, team="t2"))
    store.apply_employee_change(_change("e-1", 1, team="t1"))  # late: changes nothing
    entry = store.find_employee("e-1")
    assert entry is not None
    assert (entry["_id"], entry["version"], entry["team"]) == ("e-1", 2, "t2")
    assert (entry["active"], entry["erased"], entry["fte"]) == (True, False, 1.0)
    store.apply_employee_change(_change("e-2", 1, active=False))
    statuses = sorted(store.employee_statuses(), key=lambda status: status["_id"])
    assert statuses == [
        {"_id": "e-1", "active": True, "erased": False},
        {"_id": "e-2", "active": False, "erased": False},
    ]


def test_pending_changes_come_in_version_order_per_employee(store: Store) -> None:
    for change in (_change("e-2", 1), _change("e-1", 2), _change("e-1", 1)):
        store.insert_employee_change(change)
    pending = store.pending_employee_changes()
    assert [(c["employee_id"], c["version"]) for c in pending] == [
        ("e-1", 1),
        ("e-1", 2),
        ("e-2", 1),
    ]
    store.delete_employee_changes([pending[0]["_id"], pending[1]["_id"]])
    assert [c["_id"] for c in store.pending_employee_changes()] == [pending[2]["_id"]]


# -- EmployeeCopy ------------------------------------------------------------------------


def _copy_of(store: Store) -> Any:
    if isinstance(store, FakeEventStore):
        return FakeEmployeeCopy(store)
    return KnownEmployees(store)


def test_the_door_copy_answers_what_the_door_needs(store: Store) -> None:
    copy = _copy_of(store)
    assert copy.get("e-1") is None  # loads the copy: the directory is empty
    store.apply_employee_change(_change("e-1", 1))  # made elsewhere, a moment ago
    assert copy.get("e-1") == {"active": True, "erased": False}  # read: the copy lacks it
    change = _change("e-1", 2, active=False)
    store.apply_employee_change(change)
    copy.remember("e-1", {**change["record"], "active": False})  # made by this process
    assert copy.get("e-1") == {"active": False, "erased": False}


# -- CatalogueStore ----------------------------------------------------------------------


def _item(kind: str, item_id: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "id": item_id, "title": "T", "track": "ai", "active": True, **fields}


def test_an_item_is_created_then_replaced(catalogue: Any) -> None:
    assert catalogue.get("course", "k-1") is None
    assert catalogue.current("course", "k-1") is None
    assert catalogue.save(_item("course", "k-1")) is True
    assert catalogue.save(_item("course", "k-1", title="New")) is False
    assert catalogue.get("course", "k-1") == _item("course", "k-1", title="New")
    catalogue.replace(_item("course", "k-1", title="New", active=False))
    assert catalogue.get("course", "k-1") == _item("course", "k-1", title="New", active=False)
    current = catalogue.current("course", "k-1")
    assert current is not None and current["active"] is False


def test_items_of_a_kind_are_paged_in_id_order(catalogue: Any) -> None:
    for item_id in ("k-3", "k-1", "k-2"):
        catalogue.save(_item("course", item_id))
    catalogue.save(_item("content", "k-0", url="https://example.org", track=None))
    assert [item["id"] for item in catalogue.page("course", 2, None)] == ["k-1", "k-2"]
    assert [item["id"] for item in catalogue.page("course", 2, "k-2")] == ["k-3"]
    assert catalogue.page("survey", 5, None) == []


# -- EventPublisher ----------------------------------------------------------------------

Published = Callable[[set[str]], tuple[list[dict[str, Any]], list[dict[str, Any] | None]]]


@pytest.fixture(params=IMPLEMENTATIONS)
def publisher(
    request: pytest.FixtureRequest, settings: Settings, tail: Any
) -> Iterator[tuple[Any, Published]]:
    """A publisher, and what a reader of the two topics received under the given keys
    (employee ids): events, then directory snapshots (None for a tombstone)."""
    if request.param == "fake":
        fake = FakePublisher()

        def read_fake(keys: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any] | None]]:
            snapshots = [c["snapshot"] for c in fake.employee_changes if c["employee_id"] in keys]
            return [e for e in fake.events if e["employee_id"] in keys], snapshots

        yield fake, read_fake
        return
    events_tail, employees_tail = tail(EVENTS), tail(EMPLOYEES)
    real = KafkaEventPublisher(lambda: make_producer(settings))

    def read_real(keys: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any] | None]]:
        def mine(messages: list[Any]) -> list[Any]:
            return [m for m in messages if m.key is not None and m.key.decode() in keys]

        events = events_tail.wait_for(lambda ms: len(mine(ms)) >= 2)
        employees = employees_tail.wait_for(lambda ms: len(mine(ms)) >= 2)
        return (
            [json.loads(m.value) for m in mine(events)],
            [None if m.value is None else json.loads(m.value) for m in mine(employees)],
        )

    try:
        yield real, read_real
    finally:
        real.close()


def test_what_is_published_is_the_envelope_in_the_order_given(
    publisher: tuple[Any, Published],
) -> None:
    sender, published = publisher
    employee = f"e-{uuid.uuid4().hex[:8]}"
    events = [dataclasses.replace(_answered(employee_id=employee), sequence=n) for n in (6, 5)]
    sender.publish_events(events)
    erasure = {**_change(employee, 2), "snapshot": None}  # a tombstone
    sender.publish_employee_changes([_change(employee, 1), erasure])
    sent, snapshots = published({employee})
    assert sent == [event.envelope().to_dict() for event in events]
    assert [body["sequence"] for body in sent] == [6, 5]
    assert all("value" not in body["data"] for body in sent)
    assert snapshots == [{"employee_id": employee, "version": 1}, None]
    sender.close()
