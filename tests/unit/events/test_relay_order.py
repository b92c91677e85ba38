"""The relay publishes in sequence order and waits a little at a gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.events.relay import GAP_GRACE, Relay

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def _entry(sequence: int, age: timedelta) -> dict:
    accepted = (NOW - age).isoformat().replace("+00:00", "Z")
    return {"_id": f"e{sequence}", "sequence": sequence, "accepted_at": accepted}


def _relay(last: int) -> Relay:
    relay = Relay(store=None, producer_factory=None, clock=lambda: NOW)  # type: ignore[arg-type]
    relay._last_sequence = last
    return relay


def test_contiguous_entries_all_go() -> None:
    pending = [_entry(5, timedelta(0)), _entry(6, timedelta(0))]
    assert [e["sequence"] for e in _relay(4)._in_order(pending)] == [5, 6]


def test_fresh_entry_after_a_gap_waits_for_the_missing_one() -> None:
    pending = [_entry(5, timedelta(0)), _entry(7, timedelta(0))]
    assert [e["sequence"] for e in _relay(4)._in_order(pending)] == [5]


def test_entry_after_an_old_gap_goes() -> None:
    pending = [_entry(7, GAP_GRACE + timedelta(seconds=1))]
    assert [e["sequence"] for e in _relay(4)._in_order(pending)] == [7]
