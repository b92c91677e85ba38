"""The consumer's batch handler with fakes of its ports (store, index, publisher:
`fakes.py`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cercle_common.envelope import Envelope
from cercle_common.errors import InfrastructureError
from cercle_common.messaging import Record
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.adapters.rules_file import load_rules
from services.points.domain.model import Placement
from services.points.handlers import PointsProcessor
from tests.unit.points.fakes import FakeBoardIndex, FakeEntryPublisher, FakeLedgerStore


@pytest.fixture
def parts() -> tuple[PointsProcessor, FakeLedgerStore, FakeBoardIndex, FakeEntryPublisher]:
    store, index, publisher = FakeLedgerStore(), FakeBoardIndex(), FakeEntryPublisher()
    processor = PointsProcessor(store, index, publisher, load_rules(), "Europe/Paris")
    return processor, store, index, publisher


_offsets: dict[str, int] = {EVENTS: 0, EMPLOYEES: 0}


def event_record(
    employee: str,
    sequence: int,
    event_type: str,
    data: dict[str, Any],
    event_id: str | None = None,
    occurred_at: datetime = datetime(2026, 11, 26, 10, tzinfo=UTC),
) -> Record:
    envelope = Envelope(
        id=event_id or f"ev-{sequence}",
        type=event_type,
        occurred_at=occurred_at,
        employee_id=employee,
        data=data,
        sequence=sequence,
    )
    _offsets[EVENTS] += 1
    return Record(EVENTS, 0, _offsets[EVENTS], employee.encode(), envelope.to_json())


def directory_record(employee: str, body: dict[str, Any] | None) -> Record:
    _offsets[EMPLOYEES] += 1
    value = None if body is None else json.dumps({"employee_id": employee, **body}).encode()
    return Record(EMPLOYEES, 0, _offsets[EMPLOYEES], employee.encode(), value)


def share(employee: str, sequence: int, content: str = "c", event_id: str | None = None) -> Record:
    return event_record(
        employee,
        sequence,
        "content.shared",
        {"content_id": content, "network": "linkedin"},
        event_id=event_id,
    )


def test_a_redelivered_batch_adds_nothing_and_writes_the_projections_again(parts: Any) -> None:
    processor, store, index, publisher = parts
    batch = [directory_record("e-1", {"team": "t"}), share("e-1", 10), share("e-1", 11, "d")]
    assert processor.handle_batch(batch) == []
    assert index.totals("e-1", ["all"]) == [(20, 11)]
    index.projected.clear()
    assert processor.handle_batch(batch) == []
    assert len(store.ledger) == 2 and len(publisher.sent) == 2
    assert index.projected == ["e-1", "e-1"]  # directory move, then the events' projections
    assert index.totals("e-1", ["all"]) == [(20, 11)]


def test_an_outage_before_the_state_write_leaves_the_cache_and_the_retry_counts_once(
    parts: Any,
) -> None:
    processor, store, _, publisher = parts
    batch = [share("e-2", 20), share("e-2", 21, "d")]
    store.fail_states = 1
    with pytest.raises(InfrastructureError):
        processor.handle_batch(batch)
    assert "e-2" not in processor.states
    assert processor.handle_batch(batch) == []
    assert processor.states["e-2"].total("all") == 20
    assert sorted(store.ledger) == ["ev-20:share.professional", "ev-21:share.professional"]
    # Published twice (once per attempt), with the same ids: consumers dedupe on `id`.
    assert [entry.id for entry in publisher.sent] == sorted(store.ledger) * 2


def test_events_after_a_tombstone_in_the_same_batch_are_refused(parts: Any) -> None:
    processor, store, _, _ = parts
    processor.handle_batch([directory_record("e-3", {"team": "t"}), share("e-3", 30)])
    late = share("e-3", 31, "d")
    rejected = processor.handle_batch([directory_record("e-3", None), late])
    assert [(r.record, r.error.field) for r in rejected] == [(late, "employee_id")]
    assert "e-3" not in processor.states and "e-3" not in store.load_states()
    assert not [e for e in store.ledger.values() if e.employee_id == "e-3"]


def test_a_bad_directory_snapshot_is_refused_naming_the_field(parts: Any) -> None:
    processor, *_ = parts
    bad = directory_record("e-4", {"visibility": "everyone"})
    rejected = processor.handle_batch([bad])
    assert [(r.record, r.error.field) for r in rejected] == [(bad, "visibility")]


def test_a_team_move_takes_the_scores_out_of_the_old_team(parts: Any) -> None:
    processor, _, index, _ = parts
    processor.handle_batch([directory_record("e-5", {"team": "a", "site": "s"}), share("e-5", 50)])
    processor.handle_batch([directory_record("e-5", {"team": "b", "site": "s"})])
    assert index.unplaced[-1] == ("e-5", Placement(team="a", site="s", listed=True))
    assert processor.directory["e-5"].team == "b"


def test_an_events_partition_that_jumped_ahead_reloads_the_cache(parts: Any) -> None:
    processor, store, _, _ = parts
    processor.handle_batch([share("e-6", 60)])
    loads = store.loads
    processor.handle_batch([share("e-6", 61, "d")])
    assert store.loads == loads
    _offsets[EVENTS] += 5  # another member processed these in the meantime
    processor.handle_batch([share("e-6", 70, "f")])
    assert store.loads == loads + 1


def test_points_of_an_employee_the_directory_has_not_announced_are_listed_once_it_does(
    parts: Any,
) -> None:
    processor, _, index, _ = parts
    processor.handle_batch([share("e-7", 80)])
    assert processor.states["e-7"].total("all") == 10
    assert index.totals("e-7", ["all"]) == [(10, 80)]
    index.projected.clear()
    processor.handle_batch([directory_record("e-7", {"team": "t", "visibility": "visible"})])
    assert index.projected == ["e-7"]
    assert processor.directory["e-7"].placement() == Placement(team="t", site="", listed=True)


def test_two_events_sharing_a_sequence_are_both_scored_and_a_repeated_id_once(
    parts: Any,
) -> None:
    processor, store, index, _ = parts
    processor.handle_batch([share("e-8", 90, "a", event_id="ev-a"), share("e-8", 90, "b", "ev-b")])
    # The same id again under a later sequence, in a later batch: already applied.
    processor.handle_batch([share("e-8", 95, "a", event_id="ev-a")])
    assert processor.states["e-8"].total("all") == 20
    assert index.totals("e-8", ["all"]) == [(20, 90)]
    assert sorted(store.ledger) == ["ev-a:share.professional", "ev-b:share.professional"]
    assert sum(entry.points for entry in store.ledger.values()) == 20


def test_a_new_id_behind_the_position_is_scored_and_its_state_stored(parts: Any) -> None:
    processor, store, _, _ = parts
    processor.handle_batch([share("e-9", 100, "a")])
    processor.handle_batch([share("e-9", 99, "b", event_id="ev-late")])
    assert processor.states["e-9"].total("all") == 20
    stored = store.load_states({"e-9"})["e-9"]
    assert stored.total("all") == 20 and stored.applied == 2


def test_an_instant_outside_the_periods_is_refused_and_its_siblings_scored(parts: Any) -> None:
    processor, _, _, _ = parts
    # The last hour of year 9999 in UTC is already year 10000 in Paris.
    far = event_record(
        "e-10",
        110,
        "content.shared",
        {"content_id": "x", "network": "linkedin"},
        occurred_at=datetime(9999, 12, 31, 23, 30, tzinfo=UTC),
    )
    rejected = processor.handle_batch([share("e-10", 109, "a"), far, share("e-10", 111, "b")])
    assert [(r.record, r.error.field) for r in rejected] == [(far, "occurred_at")]
    assert processor.states["e-10"].total("all") == 20


def test_an_index_not_built_on_this_redis_is_rebuilt_whole_before_the_batch(
    parts: Any,
) -> None:
    processor, _, index, _ = parts
    processor.handle_batch([directory_record("e-11", {"team": "t"}), share("e-11", 120)])
    assert index.rebuilt == []
    index.built = False  # Redis flushed or restarted
    processor.handle_batch([share("e-12", 121)])
    assert index.rebuilt[0][0] == ["e-11"] and "e-11" in index.rebuilt[0][1]
    index.built = False
    assert processor.check_index() is True
    assert processor.check_index() is False
