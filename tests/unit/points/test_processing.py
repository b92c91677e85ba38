"""The consumer's batch handler with fakes of its ports (store, index, publisher)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from cercle_common.envelope import Envelope
from cercle_common.errors import InfrastructureError
from cercle_common.messaging import Record
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.adapters.rules_file import load_rules
from services.points.domain.model import DirectoryEntry, EmployeeState, LedgerEntry, Placement
from services.points.handlers import PointsProcessor


class FakeStore:
    def __init__(self) -> None:
        self.ledger: dict[str, LedgerEntry] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.directory: dict[str, DirectoryEntry] = {}
        self.loads = 0
        self.fail_states = 0

    def insert_ledger(self, entries: Iterable[LedgerEntry]) -> None:
        for entry in entries:
            self.ledger.setdefault(entry.id, entry)

    def insert_states(self, states: Iterable[EmployeeState]) -> None:
        if self.fail_states:
            self.fail_states -= 1
            raise InfrastructureError("MongoDB unavailable")
        for state in states:
            known = self.states.get(state.employee_id)
            if known is None or known["applied"] < state.applied:
                self.states[state.employee_id] = state.to_dict()

    def insert_directory(self, entries: Iterable[DirectoryEntry]) -> None:
        for entry in entries:
            self.directory[entry.employee_id] = entry

    def load_states(self, compact: bool = False) -> dict[str, EmployeeState]:
        self.loads += 1
        return {key: EmployeeState.from_dict(value) for key, value in self.states.items()}

    def load_directory(self) -> dict[str, DirectoryEntry]:
        return dict(self.directory)

    def erase(self, employee_id: str, keep_position: int) -> None:
        self.states.pop(employee_id, None)
        self.ledger = {k: v for k, v in self.ledger.items() if v.employee_id != employee_id}


class FakeWriter:
    def __init__(self, index: FakeIndex) -> None:
        self.index = index

    def project(self, employee_id: str, placement: Placement, totals: Any) -> None:
        for key, points, sequence in totals:
            self.index.totals[(employee_id, key)] = (points, sequence)
        self.index.projected.append(employee_id)

    def unplace(self, employee_id: str, placement: Placement, keys: Any) -> None:
        self.index.unplaced.append((employee_id, placement))

    def directory(self, entry: DirectoryEntry) -> None:
        self.index.stored[entry.employee_id] = {"team": entry.team, "site": entry.site}

    def forget_totals(self, employee_id: str) -> None:
        self.index.totals = {k: v for k, v in self.index.totals.items() if k[0] != employee_id}


class FakeIndex:
    def __init__(self) -> None:
        self.totals: dict[tuple[str, str], tuple[int, int]] = {}
        self.projected: list[str] = []
        self.unplaced: list[tuple[str, Placement]] = []
        self.stored: dict[str, dict[str, str]] = {}
        self.built = True
        self.rebuilt: list[tuple[list[str], list[str]]] = []

    def is_built(self) -> bool:
        return self.built

    def rebuild(self, states: Iterable[EmployeeState], directory: Iterable[DirectoryEntry]) -> None:
        self.rebuilt.append(
            (sorted(s.employee_id for s in states), sorted(e.employee_id for e in directory))
        )
        self.built = True

    def write(self, build: Callable[[FakeWriter], None]) -> None:
        build(FakeWriter(self))

    def directory(self, employee_ids: list[str]) -> list[dict[str, str]]:
        return [self.stored.get(e, {}) for e in employee_ids]

    def period_keys_of(self, employee_ids: list[str]) -> list[list[str]]:
        return [[k for (e, k) in self.totals if e == employee] for employee in employee_ids]


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[LedgerEntry] = []

    def publish(self, entries: list[LedgerEntry]) -> None:
        self.sent.extend(entries)


@pytest.fixture
def parts() -> tuple[PointsProcessor, FakeStore, FakeIndex, FakePublisher]:
    store, index, publisher = FakeStore(), FakeIndex(), FakePublisher()
    processor = PointsProcessor(store, index, publisher, load_rules(), "Europe/Paris")  # type: ignore[arg-type]
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
    assert index.totals[("e-1", "all")] == (20, 11)
    index.projected.clear()
    assert processor.handle_batch(batch) == []
    assert len(store.ledger) == 2 and len(publisher.sent) == 2
    assert index.projected == ["e-1", "e-1"]  # directory move, then the events' projections
    assert index.totals[("e-1", "all")] == (20, 11)


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
    assert "e-3" not in processor.states and "e-3" not in store.states
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
    assert index.totals[("e-7", "all")] == (10, 80)
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
    assert index.totals[("e-8", "all")] == (20, 90)
    assert sorted(store.ledger) == ["ev-a:share.professional", "ev-b:share.professional"]
    assert sum(entry.points for entry in store.ledger.values()) == 20


def test_a_new_id_behind_the_position_is_scored_and_its_state_stored(parts: Any) -> None:
    processor, store, _, _ = parts
    processor.handle_batch([share("e-9", 100, "a")])
    processor.handle_batch([share("e-9", 99, "b", event_id="ev-late")])
    assert processor.states["e-9"].total("all") == 20
    stored = EmployeeState.from_dict(store.states["e-9"])
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
