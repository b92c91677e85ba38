"""The relay publishes the outbox to Kafka; a crash between publishing and marking
republishes, and nothing accepted is ever missing from the topic."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime

from cercle_common.messaging import make_producer
from cercle_common.topics import EMPLOYEES, EVENTS
from services.events.entrypoints.relay import Relay


def _drain(relay: Relay, store, rounds: int = 50) -> None:
    try:
        for _ in range(rounds):
            relay.run_once()
            if store.count_pending() == 0 and not store.pending_employee_changes(1):
                return
        raise AssertionError("outbox not drained")
    finally:
        relay.close()


def _ids(messages, wanted: set[str]) -> list[str]:
    return [
        json.loads(m.value)["id"]
        for m in messages
        if m.value and json.loads(m.value).get("id") in wanted
    ]


def test_relay_publishes_events_in_sequence_order_without_survey_values(
    settings, client, store, new_employee, make_share, tail
) -> None:
    events_tail, employees_tail = tail(EVENTS), tail(EMPLOYEES)
    employee = new_employee()
    shares = [make_share(employee) for _ in range(3)]
    answer = {
        "id": f"sa-{uuid.uuid4().hex}",
        "type": "survey.answered",
        "occurred_at": datetime.now(UTC).isoformat(),
        "employee_id": employee,
        "source": "survey-tool",
        "data": {"survey_id": "s", "question_id": "q", "kind": "enps", "value": 4},
    }
    for event in [*shares, answer]:
        assert client.post("/v1/events", json=event).status_code == 201
    relay = Relay(store, lambda: make_producer(settings))
    _drain(relay, store)

    wanted = {e["id"] for e in [*shares, answer]}
    messages = events_tail.wait_for(lambda ms: set(_ids(ms, wanted)) == wanted)
    mine = [m for m in messages if json.loads(m.value)["id"] in wanted]
    assert [json.loads(m.value)["id"] for m in mine] == [e["id"] for e in [*shares, answer]]
    assert {m.key for m in mine} == {employee.encode()}
    published_answer = json.loads(mine[-1].value)
    assert published_answer["data"] == {"survey_id": "s", "question_id": "q", "kind": "enps"}
    sequences = [json.loads(m.value)["sequence"] for m in mine]
    assert sequences == sorted(sequences)

    snapshots = employees_tail.wait_for(lambda ms: any(m.key == employee.encode() for m in ms))
    snapshot = json.loads(next(m for m in snapshots if m.key == employee.encode()).value)
    assert snapshot["employee_id"] == employee and snapshot["version"] == 1
    assert "email" not in snapshot and "display_name" not in snapshot


def test_erasure_publishes_a_tombstone(
    settings, client, store, new_employee, tail, admin_headers
) -> None:
    employees_tail = tail(EMPLOYEES)
    employee = new_employee()
    client.delete(f"/v1/employees/{employee}", headers=admin_headers)
    _drain(Relay(store, lambda: make_producer(settings)), store)
    messages = employees_tail.wait_for(
        lambda ms: [m.value is None for m in ms if m.key == employee.encode()] == [False, True]
    )
    assert messages  # snapshot then tombstone, in that order


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_crash_between_publish_and_mark_loses_nothing_and_counts_once(
    settings, client, store, new_employee, make_share, tail
) -> None:
    events_tail = tail(EVENTS)
    employees = [new_employee() for _ in range(4)]
    accepted = set()
    response = client.post(
        "/v1/events:batch", json={"events": [make_share(employees[i % 4]) for i in range(40)]}
    )
    accepted |= {r["id"] for r in response.json["results"] if r["status"] == 201}
    assert len(accepted) == 40

    env = {
        **os.environ,
        "MONGO_DB_PREFIX": settings.mongo_db_prefix,
        "HEALTH_PORT": str(_free_port()),
    }
    crashed = subprocess.run(
        [sys.executable, "-m", "services.events.entrypoints.relay", "--crash-after-publish"],
        env=env,
        timeout=120,
        capture_output=True,
    )
    assert crashed.returncode == 3, crashed.stderr.decode()[-2000:]
    assert store.count_pending() == 40  # published, but the crash came before marking
    events_tail.wait_for(lambda ms: set(_ids(ms, accepted)) == accepted)

    # Restart: the relay publishes the same entries again, then marks them.
    restarted = subprocess.Popen(
        [sys.executable, "-m", "services.events.entrypoints.relay"], env=env
    )
    try:
        messages = events_tail.wait_for(
            lambda ms: len(_ids(ms, accepted)) == 80 and store.count_pending() == 0, 60
        )
    finally:
        restarted.terminate()
        assert restarted.wait(timeout=30) == 0

    seen = _ids(messages, accepted)
    assert set(seen) == accepted  # no accepted event missing
    # What a consumer that dedupes on the id counts: each event once.
    assert len(dict.fromkeys(seen)) == len(accepted) == 40
    # The republished copies carry the sequence of the first ones: one per id, forever.
    sequences: dict[str, set[int]] = {}
    for message in messages:
        body = json.loads(message.value) if message.value else {}
        if body.get("id") in accepted:
            sequences.setdefault(body["id"], set()).add(body["sequence"])
    assert all(len(numbers) == 1 for numbers in sequences.values())
    assert len({min(numbers) for numbers in sequences.values()}) == 40
