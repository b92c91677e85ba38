"""The door (`handlers.Ingestion`) over the fakes of its ports: what it answers and what it
records, without a database (the same behaviour is checked on FerretDB by the
integration tests)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from cercle_common.errors import InfrastructureError
from services.events.domain.accepted import AcceptedEvent
from services.events.domain.directory import parse_record
from services.events.handlers import Directory, Ingestion
from tests.unit.events.fakes import FakeCatalogue, FakeEmployeeCopy, FakeEventStore

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TRACKER = ("social-tracker",)


def _door(store: FakeEventStore | None = None) -> tuple[Ingestion, FakeEventStore]:
    store = store or FakeEventStore()
    Directory(store, lambda: NOW).save(
        "e-1", parse_record({"display_name": "Ann Lee", "email": "ann@example.org"})
    )
    catalogue = FakeCatalogue()
    catalogue.save({"kind": "content", "id": "c-1", "title": "T", "url": "https://x.org/c"})
    door = Ingestion(store, lambda: NOW, employees=FakeEmployeeCopy(store), catalogue=catalogue)
    return door, store


def _share(**fields: Any) -> dict[str, Any]:
    return {
        "id": f"ev-{uuid.uuid4().hex}",
        "type": "content.shared",
        "occurred_at": "2026-11-26T08:59:00Z",
        "employee_id": "e-1",
        "data": {"content_id": "c-1", "network": "x", "url": "https://x.org/p"},
        **fields,
    }


def test_a_new_event_is_accepted_then_queued_without_a_sequence() -> None:
    door, store = _door()
    event = _share()
    outcome = door.accept(event, path="http", speaks_for=TRACKER)
    assert outcome.status == 201 and outcome.event is not None
    assert outcome.event["sequence"] is None and outcome.event["source"] == "social-tracker"
    assert list(store.accepted_records) == list(store.outbox) == [event["id"]]
    assert door.stored(event["id"]) == outcome.event


def test_a_resend_is_answered_from_the_record_and_other_content_is_a_conflict() -> None:
    door, store = _door()
    event = _share()
    first = door.accept(event, path="http", speaks_for=TRACKER)
    again = door.accept(event, path="http", speaks_for=TRACKER)
    other = door.accept(
        {**event, "data": {**event["data"], "network": "linkedin"}},
        path="http",
        speaks_for=TRACKER,
    )
    assert (again.status, again.event) == (200, first.event)
    assert other.status == 409 and other.error is not None and other.error.field == "id"
    assert len(store.outbox) == 1


def test_an_id_accepted_but_never_queued_is_queued_by_its_resend() -> None:
    class DiesBeforeQueueing(FakeEventStore):
        dying = True

        def insert_outbox(self, events: Sequence[AcceptedEvent]) -> set[str]:
            if self.dying:
                raise InfrastructureError("the process died here")
            return super().insert_outbox(events)

    store = DiesBeforeQueueing()
    door, _ = _door(store)
    event = _share()
    with pytest.raises(InfrastructureError):
        door.accept(event, path="http", speaks_for=TRACKER)
    assert event["id"] in store.accepted_records and not store.outbox
    store.dying = False
    assert door.accept(event, path="http", speaks_for=TRACKER).status == 200
    assert store.outbox[event["id"]].entry == store.accepted_records[event["id"]].entry


def test_a_batch_is_judged_item_by_item() -> None:
    door, store = _door()
    good, unknown = _share(), _share(employee_id="e-unknown")
    uncatalogued = _share(data={"content_id": "c-9", "network": "x", "url": "https://x.org/p"})
    outcomes = door.accept_many(
        [good, unknown, uncatalogued, good], path="http_batch", speaks_for=TRACKER
    )
    assert [outcome.status for outcome in outcomes] == [201, 422, 422, 200]
    assert [outcome.error.field for outcome in outcomes[1:3] if outcome.error] == [
        "employee_id",
        "data.content_id",
    ]
    assert list(store.outbox) == [good["id"]]
