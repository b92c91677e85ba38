"""Events and ledger entries are applied once by id, never by sequence alone: two ids
sharing a sequence both count, one id under two sequences counts once."""

from __future__ import annotations

from dataclasses import replace

from services.badges.adapters.state_documents import (
    applied_document,
    applied_from_document,
    state_document,
    state_from_document,
)
from services.badges.domain.applied import RECENT_IDS, AppliedFacts
from services.badges.domain.model import EmployeeBadges
from tests.unit.badges.conftest import TZ


def apply_events(catalogue, state, events) -> None:
    for event in events:
        state.record_event(event, catalogue, TZ)


def test_two_events_sharing_a_sequence_with_different_ids_both_count(catalogue, facts):
    first = facts.event("2026-11-02T09:00:00Z", content_id="c-1", event_id="ev-a")
    second = replace(
        facts.event("2026-11-02T10:00:00Z", content_id="c-2", event_id="ev-b"),
        sequence=first.sequence,
    )
    state = EmployeeBadges(employee_id="e-1")
    apply_events(catalogue, state, [first, second])
    assert [m.event_id for m in state.matches["ambassador"]] == ["ev-a", "ev-b"]
    assert state.awards["ambassador:bronze"].evidence == ["ev-a", "ev-b"]


def test_a_new_id_below_the_position_is_applied(catalogue, facts):
    late = facts.event("2026-11-02T09:00:00Z", content_id="c-1", event_id="ev-late")
    ahead = facts.event("2026-11-02T10:00:00Z", content_id="c-2", event_id="ev-ahead")
    state = EmployeeBadges(employee_id="e-1")
    apply_events(catalogue, state, [ahead, late])
    assert state.event_position == ahead.sequence
    assert sorted(m.event_id for m in state.matches["ambassador"]) == ["ev-ahead", "ev-late"]


def test_one_id_redelivered_under_another_sequence_counts_once(catalogue, facts):
    share = facts.event("2026-11-02T09:00:00Z", content_id="c-1", event_id="ev-1")
    again = replace(share, sequence=share.sequence + 40)
    state = EmployeeBadges(employee_id="e-1")
    assert state.record_event(share, catalogue, TZ) is True
    assert state.record_event(again, catalogue, TZ) is False
    assert [m.event_id for m in state.matches["ambassador"]] == ["ev-1"]


def test_ledger_entries_are_applied_once_by_id_whatever_their_sequence(catalogue, facts):
    state = EmployeeBadges(employee_id="e-1")
    ahead = facts.entry("2026-11-02T09:00:00Z", 30, event_id="ev-ahead")
    late = facts.entry("2026-11-02T09:00:00Z", 20, event_id="ev-late")  # a new id, lower
    state.record_points(late, catalogue, TZ)
    assert state.record_points(ahead, catalogue, TZ) is True
    same_sequence = replace(
        facts.entry("2026-11-02T09:00:00Z", 5, event_id="ev-twin"), sequence=ahead.sequence
    )
    assert state.record_points(same_sequence, catalogue, TZ) is True
    # Redeliveries, one of them under another sequence: nothing more.
    assert state.record_points(ahead, catalogue, TZ) is False
    assert state.record_points(replace(late, sequence=ahead.sequence + 9), catalogue, TZ) is False
    assert state.totals["all"] == 55


def test_ledger_entry_below_the_position_with_a_new_id_counts(catalogue, facts):
    state = EmployeeBadges(employee_id="e-1")
    first = facts.entry("2026-11-02T09:00:00Z", 60, event_id="ev-1")
    second = facts.entry("2026-11-02T09:00:00Z", 60, event_id="ev-2")
    state.record_points(second, catalogue, TZ)
    state.record_points(first, catalogue, TZ)  # arrives after, with a lower sequence
    assert state.totals["all"] == 120
    assert "milestones:bronze" in state.awards


def test_the_memory_is_bounded_and_forgets_the_lowest_sequences_first():
    applied = AppliedFacts(limit=3)
    for sequence, fact_id in [(5, "e"), (1, "a"), (9, "i"), (3, "c")]:
        applied.remember(fact_id, sequence)
    assert applied.recent == {"e": 5, "i": 9, "c": 3}
    assert applied.forgotten_up_to == 1
    assert applied.seen("a", 1)  # forgotten, but older than everything remembered
    assert applied.seen("i", 42)  # remembered by id, whatever the sequence
    assert not applied.seen("b", 2)  # a new id above the watermark
    loaded = applied_from_document(applied_document(applied))
    assert (loaded.recent, loaded.forgotten_up_to) == (applied.recent, applied.forgotten_up_to)


def test_the_default_bound_covers_a_whole_consumer_batch():
    assert RECENT_IDS >= 500  # the consumer loop's max_records


def test_a_state_written_with_positions_only_keeps_skipping_what_it_applied(catalogue, facts):
    state = state_from_document(
        {
            "employee_id": "e-1",
            "event_position": 7,
            "points_position": 4,
            "points_ids_at_position": ["ev-4:rule"],
        }
    )
    old = replace(facts.event("2026-11-02T09:00:00Z", content_id="c-1"), sequence=7)
    assert state.record_event(old, catalogue, TZ) is False
    entry = replace(facts.entry("2026-11-02T09:00:00Z", 10, event_id="ev-4"), sequence=4)
    assert state.record_points(entry, catalogue, TZ) is False
    sibling = replace(facts.entry("2026-11-02T09:00:00Z", 10, event_id="ev-4b"), sequence=4)
    assert state.record_points(sibling, catalogue, TZ) is True


def test_the_applied_ids_survive_the_storage_round_trip(catalogue, facts):
    state = EmployeeBadges(employee_id="e-1")
    share = facts.event("2026-11-02T09:00:00Z", content_id="c-1")
    entry = facts.entry("2026-11-02T09:00:00Z", 10)
    state.record_event(share, catalogue, TZ)
    state.record_points(entry, catalogue, TZ)
    loaded = state_from_document(state_document(state))
    assert loaded == state
    assert loaded.record_event(replace(share, sequence=99), catalogue, TZ) is False
    assert loaded.record_points(replace(entry, sequence=99), catalogue, TZ) is False
