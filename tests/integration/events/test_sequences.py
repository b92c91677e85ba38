"""Sequences are given by the one relay, once per event id, never twice the same number;
a re-sent id never reaches the topic again (the real FerretDB and Kafka)."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from cercle_common.envelope import Envelope
from cercle_common.messaging import make_producer
from cercle_common.topics import EVENTS
from services.events.domain.accepted import accepted_event
from services.events.domain.events import fingerprint
from services.events.entrypoints.relay import Relay, RelayDisplaced


def _published(messages, wanted: set[str]) -> dict[str, list[int]]:
    """Each wanted id -> the sequences it was published with, in topic order."""
    sequences: dict[str, list[int]] = defaultdict(list)
    for message in messages:
        body = json.loads(message.value) if message.value else {}
        if body.get("id") in wanted:
            sequences[body["id"]].append(body["sequence"])
    return sequences


def _post_from_threads(app, settings, bodies_per_thread) -> list[int]:
    statuses: list[int] = []
    # The shares are the social tracker's: its token speaks for it.
    token = {"Authorization": f"Bearer {settings.social_tracker_token}"}

    def post(bodies) -> None:
        client = app.test_client()
        for body in bodies:
            statuses.append(client.post("/v1/events", json=body, headers=token).status_code)

    threads = [threading.Thread(target=post, args=(bodies,)) for bodies in bodies_per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def test_concurrent_accepts_never_publish_a_sequence_twice(
    app, settings, new_employee, make_share, publish_outbox, tail
) -> None:
    events_tail = tail(EVENTS)
    employees = [new_employee() for _ in range(4)]
    threads = [[make_share(employees[t % 4]) for _ in range(25)] for t in range(8)]
    statuses = _post_from_threads(app, settings, threads)
    assert statuses == [201] * 200
    publish_outbox()

    wanted = {event["id"] for bodies in threads for event in bodies}
    messages = events_tail.wait_for(lambda ms: set(_published(ms, wanted)) == wanted)
    published = _published(messages, wanted)
    sequences = [seqs[0] for seqs in published.values()]
    assert all(len(seqs) == 1 for seqs in published.values())
    assert len(set(sequences)) == 200  # no two events share a sequence
    per_partition: dict[int, list[int]] = defaultdict(list)
    for message in messages:
        if json.loads(message.value)["id"] in wanted:
            per_partition[message.partition].append(json.loads(message.value)["sequence"])
    assert all(seqs == sorted(seqs) for seqs in per_partition.values())


def test_a_resend_after_publication_never_reaches_the_topic_again(
    app, settings, client, store, new_employee, make_share, publish_outbox, tail
) -> None:
    events_tail = tail(EVENTS)
    employee = new_employee()
    originals = [make_share(employee) for _ in range(20)]
    assert client.post("/v1/events:batch", json={"events": originals}).status_code == 200
    publish_outbox()

    # The relay keeps turning while the producer re-sends everything, many times over.
    relay = Relay(store, lambda: make_producer(settings))
    runner = threading.Thread(target=relay.run, kwargs={"idle_wait_s": 0.0}, daemon=True)
    runner.start()
    try:
        statuses = _post_from_threads(app, settings, [originals] * 6)
        marker = make_share(employee)
        assert client.post("/v1/events", json=marker).status_code == 201
        wanted = {event["id"] for event in originals} | {marker["id"]}
        messages = events_tail.wait_for(lambda ms: marker["id"] in _published(ms, wanted))
    finally:
        relay.stop()
        runner.join(timeout=30)
    assert statuses == [200] * 120
    published = _published(messages, wanted)
    assert {event_id: len(seqs) for event_id, seqs in published.items()} == dict.fromkeys(wanted, 1)
    assert store.count_pending() == 0


def test_a_stray_entry_inserted_after_the_relay_stored_the_event_is_not_published(
    client, store, new_employee, make_share, publish_outbox, tail
) -> None:
    events_tail = tail(EVENTS)
    event = make_share(new_employee())
    assert client.post("/v1/events", json=event).status_code == 201
    publish_outbox()
    stored = store.find_stored_event(event["id"])

    # A re-send that read nothing and inserted late: its own entry, another nonce.
    envelope = Envelope.from_dict(event)
    late = accepted_event(
        envelope, event["data"], fingerprint(envelope), datetime.now(UTC), "ZZZZ-late-entry"
    )
    assert store.insert_outbox([late]) == set()
    marker = make_share(event["employee_id"])
    client.post("/v1/events", json=marker)
    publish_outbox()

    messages = events_tail.wait_for(
        lambda ms: marker["id"] in _published(ms, {marker["id"]}), timeout_s=30
    )
    published = _published(messages, {event["id"], marker["id"]})
    assert published[event["id"]] == [stored["sequence"]]  # once, before; never again
    assert store.count_pending() == 0
    assert store.find_stored_event(event["id"]) == stored


def test_a_second_relay_is_refused_and_no_sequence_is_published_twice(
    settings, client, store, new_employee, make_share, tail
) -> None:
    events_tail = tail(EVENTS)
    employee = new_employee()
    first = Relay(store, lambda: make_producer(settings))
    second = Relay(store, lambda: make_producer(settings))
    batches = [[make_share(employee) for _ in range(5)] for _ in range(3)]
    try:
        assert first.run_once() == 1  # the new employee's directory snapshot
        client.post("/v1/events:batch", json={"events": batches[0]})
        assert first.run_once() == 5  # the first relay starts after the highest claim
        client.post("/v1/events:batch", json={"events": batches[1]})
        assert second.run_once() == 5  # a second one starts after the first one's claims
        client.post("/v1/events:batch", json={"events": batches[2]})
        with pytest.raises(RelayDisplaced):
            first.run_once()  # its next numbers are taken: it stops, publishing nothing
        assert store.count_pending() == 5
        assert second.run_once() == 5
    finally:
        first.close()
        second.close()

    wanted = {event["id"] for batch in batches for event in batch}
    messages = events_tail.wait_for(lambda ms: set(_published(ms, wanted)) == wanted)
    published = _published(messages, wanted)
    assert all(len(seqs) == 1 for seqs in published.values())
    assert len({seqs[0] for seqs in published.values()}) == 15
