"""The relay gives sequences (claimed, unique), republishes what it stored before a crash
with the stored sequence, never publishes a stray entry, and stops when another relay
holds the numbers. Fakes of the store and the publisher: the real ones are in the
integration tests."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from services.events.domain.accepted import AcceptedEvent, SurveyAnswer
from services.events.handlers import SEQUENCE_BLOCK, OutboxRelay, RelayDisplaced
from tests.unit.events.fakes import FakeEventStore, FakePublisher


class FakeStore(FakeEventStore):
    """The service's database, with a way to queue an accepted event."""

    def accept(self, event_id: str, entry: str, **fields: Any) -> None:
        self.outbox[event_id] = _entry(event_id, entry, **fields)


def _entry(event_id: str, entry: str, **fields: Any) -> AcceptedEvent:
    return AcceptedEvent(
        **{
            "id": event_id,
            "type": "content.shared",
            "schema_version": 1,
            "occurred_at": "2026-11-26T09:00:00Z",
            "employee_id": "e-1",
            "source": "test",
            "data": {"content_id": "c-1", "network": "x", "url": "https://example.org/p"},
            "accepted_at": "2026-11-26T09:00:01Z",
            "fingerprint": "f",
            "entry": entry,
            **fields,
        }
    )


def _stored(event_id: str, entry: str, sequence: int) -> AcceptedEvent:
    return dataclasses.replace(_entry(event_id, entry), sequence=sequence)


def _relay(store: FakeStore) -> tuple[OutboxRelay, FakePublisher]:
    publisher = FakePublisher()
    return OutboxRelay(store, store, store, store, publisher), publisher


def _published(publisher: FakePublisher) -> list[tuple[str, int]]:
    return [(event["id"], event["sequence"]) for event in publisher.events]


def test_sequences_follow_the_order_accepted_from_a_block_of_their_own() -> None:
    store = FakeStore()
    store.accept("b", "02")
    store.accept("a", "01")
    relay, producer = _relay(store)
    assert relay.run_once() == 2
    store.accept("c", "03")
    relay.run_once()
    assert _published(producer) == [("b", 1), ("a", 2), ("c", 3)]
    assert store.outbox == {} and store.blocks == {0}


def test_a_restarted_relay_goes_on_in_a_fresh_block_without_reading_every_number() -> None:
    store = FakeStore()
    store.accept("a", "01")
    _relay(store)[0].run_once()
    store.accept("b", "02")
    restarted, producer = _relay(store)
    store.highest_sequence_taken = None  # type: ignore[assignment, method-assign]  # not asked
    restarted.run_once()
    assert _published(producer) == [("b", SEQUENCE_BLOCK + 1)]
    assert store.blocks == {0, 1}


def test_a_database_without_blocks_is_read_once_to_start_after_its_highest_number() -> None:
    store = FakeStore()
    store.sequences[41] = "earlier"
    store.accept("a", "01")
    relay, producer = _relay(store)
    relay.run_once()
    assert _published(producer) == [("a", SEQUENCE_BLOCK + 1)]


def test_a_batch_crossing_into_the_next_block_claims_it() -> None:
    store = FakeStore()
    relay, producer = _relay(store)
    relay._block, relay._next_sequence = 0, SEQUENCE_BLOCK - 1
    store.blocks.add(0)
    for name in "abc":
        store.accept(name, name)
    relay.run_once()
    assert [sequence for _, sequence in _published(producer)] == [
        SEQUENCE_BLOCK - 1,
        SEQUENCE_BLOCK,
        SEQUENCE_BLOCK + 1,
    ]
    assert store.blocks == {0, 1}


def test_an_entry_stored_before_a_crash_goes_again_with_its_stored_sequence() -> None:
    store = FakeStore()
    store.accept("a", "01")
    store.accept("b", "02")
    store.events["a"] = _stored("a", "01", 7)  # stored, then the relay died
    store.sequences.update({7: "a"})  # as earlier versions wrote the numbers down
    relay, producer = _relay(store)
    relay.run_once()
    # The block after the highest number: a claims one, which stays unused.
    assert _published(producer) == [("a", 7), ("b", SEQUENCE_BLOCK + 2)]


def test_a_stray_entry_of_an_id_stored_earlier_is_dropped_unpublished() -> None:
    store = FakeStore()
    store.events["a"] = _stored("a", "01", 3)  # published long ago
    store.sequences[3] = "a"
    store.accept("a", "05")  # a re-send that slipped into the outbox
    store.accept("b", "06")
    relay, producer = _relay(store)
    assert relay.run_once() == 2
    assert _published(producer) == [("b", SEQUENCE_BLOCK + 2)]
    assert store.outbox == {} and store.events["a"].sequence == 3


def test_two_relays_starting_together_cannot_share_a_block() -> None:
    store = FakeStore()
    store.accept("a", "01")
    first, first_producer = _relay(store)
    first.run_once()
    store.accept("b", "02")
    second, second_producer = _relay(store)
    store.highest_block = lambda: None  # type: ignore[method-assign]  # read before the claim
    with pytest.raises(RelayDisplaced):
        second.run_once()
    assert second_producer.events == [] and "b" in store.outbox
    assert _published(first_producer) == [("a", 1)]


def test_a_relay_stops_once_another_relay_started_in_a_later_block() -> None:
    store = FakeStore()
    store.accept("a", "01")
    first, first_producer = _relay(store)
    first.run_once()
    store.accept("b", "02")
    second, second_producer = _relay(store)
    second.run_once()  # a later block of its own
    store.accept("c", "03")
    with pytest.raises(RelayDisplaced):
        first.run_once()
    assert _published(first_producer) == [("a", 1)]
    assert _published(second_producer) == [("b", SEQUENCE_BLOCK + 1)]
    assert "c" in store.outbox


def test_survey_answer_is_saved_with_the_sequence_the_relay_gave() -> None:
    store = FakeStore()
    store.employees["e-1"] = {"_id": "e-1", "team": "growth", "site": "paris", "erased": False}
    answer = SurveyAnswer("s", "q", "e-1", "enps", 9, "2026-11-26T09:00:00.000000Z", "a")
    store.accept("a", "01", type="survey.answered", answer=answer)
    relay, producer = _relay(store)
    relay.run_once()
    assert [(a.value, a.sequence, a.team) for a in store.answers.values()] == [(9, 1, "growth")]
    assert "answer" not in producer.events[0] and store.events["a"].answer is None
