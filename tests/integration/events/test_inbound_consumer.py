"""The inbound consumer: valid events are accepted exactly as over HTTP; anything else is
dead-lettered with its original bytes and the reason, and the consumer goes on."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime

from cercle_common.messaging import make_producer
from cercle_common.topics import DEADLETTER, INBOUND_TOPICS
from services.events.entrypoints.consumer import build_loop
from services.events.entrypoints.deadletters import list_dead_letters, read_dead_letters
from tests.waiting import wait_until

SOCIAL = INBOUND_TOPICS["social-tracker"]
DIRECTORY = INBOUND_TOPICS["directory"]


def _headers(message) -> dict[str, str]:
    return {k: v.decode() for k, v in message.headers}


def test_inbound_messages_are_accepted_or_dead_lettered(
    settings, client, store, new_employee, make_share, tail, inbound_group
) -> None:
    group = inbound_group
    dead = tail(DEADLETTER)
    employee = new_employee()
    hired = f"emp-{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC).isoformat()
    good = make_share(employee)
    first_hire_event = make_share(hired)
    adjust = {
        "id": f"adj-{uuid.uuid4().hex}",
        "type": "points.adjusted",
        "occurred_at": now,
        "employee_id": employee,
        "data": {"points": 5, "reason": "x"},
    }
    upsert = {
        "id": f"hr-{uuid.uuid4().hex}",
        "type": "employee.upserted",
        "occurred_at": now,
        "source": "directory",
        "employee_id": hired,
        "data": {"display_name": "Bo", "email": "bo@example.org", "team": "ops"},
    }
    bad = {
        "not-utf8": b"\xff\xfe{",
        "not-json": b"{oops",
        "array": b"[1, 2]",
        "huge": json.dumps({**make_share(employee), "source": "z" * 70_000}).encode(),
        "unknown-employee": json.dumps(make_share("nobody-" + uuid.uuid4().hex)).encode(),
        "points-adjusted": json.dumps(adjust).encode(),
        "conflict": json.dumps({**good, "data": {**good["data"], "network": "x"}}).encode(),
        # The social tracker's topic cannot speak for the LMS, nor for the HR directory.
        "another-source": json.dumps(
            {**good, "id": f"x-{uuid.uuid4().hex}", "source": "lms"}
        ).encode(),
        "a-hire-off-the-directory-topic": json.dumps(
            {**upsert, "id": f"hr-{uuid.uuid4().hex}", "source": None}
        ).encode(),
    }
    producer = make_producer(settings)
    leaver = new_employee()
    erase = {
        "id": f"hr-{uuid.uuid4().hex}",
        "type": "employee.erased",
        "occurred_at": now,
        "source": "directory",
        "employee_id": leaver,
        "data": {},
    }
    producer.send(DIRECTORY, key=hired.encode(), value=json.dumps(upsert).encode())
    producer.send(DIRECTORY, key=leaver.encode(), value=json.dumps(erase).encode())
    producer.flush()

    loop = build_loop(settings, group, store)
    runner = threading.Thread(target=loop.run, daemon=True)
    runner.start()
    try:
        # Two tools, two topics: no order between them, so the hire's first action is
        # sent once the directory's hire is in.
        wait_until(lambda: store.find_employee(hired) is not None, 60)
        producer.send(SOCIAL, key=employee.encode(), value=json.dumps(good).encode())
        producer.send(SOCIAL, key=hired.encode(), value=json.dumps(first_hire_event).encode())
        producer.send(SOCIAL, key=employee.encode(), value=json.dumps(good).encode())  # again
        for value in bad.values():
            # Same key as `good`: same partition, so the conflict comes after it.
            producer.send(SOCIAL, key=employee.encode(), value=value)
        producer.flush()
        producer.close()
        letters = dead.wait_for(
            lambda ms: (
                len([m for m in ms if _headers(m)["cercle.consumer_group"] == group]) >= len(bad)
                and store.find_event(first_hire_event["id"]) is not None
                and store.find_employee(leaver)["erased"] is True
            ),
            60,
        )
    finally:
        loop.stop()
        runner.join(timeout=30)

    by_value = {m.value: m for m in letters if _headers(m)["cercle.consumer_group"] == group}
    assert set(by_value) == set(bad.values())  # the original bytes, unchanged
    mine = {name: by_value[value] for name, value in bad.items()}
    assert "not UTF-8" in _headers(mine["not-utf8"])["cercle.reason"]
    assert _headers(mine["unknown-employee"])["cercle.field"] == "employee_id"
    assert _headers(mine["points-adjusted"])["cercle.field"] == "type"
    assert _headers(mine["conflict"])["cercle.error_code"] == "conflict"
    assert _headers(mine["huge"])["cercle.error_code"] == "too_large"
    assert _headers(mine["another-source"])["cercle.field"] == "source"
    assert "speaks for social-tracker" in _headers(mine["another-source"])["cercle.reason"]
    assert _headers(mine["a-hire-off-the-directory-topic"])["cercle.field"] == "source"
    assert store.find_event(good["id"]) is not None
    assert store.find_employee(hired)["team"] == "ops"
    assert store.find_event(first_hire_event["id"]) is not None
    assert store.find_employee(leaver)["erased"] is True
    assert store.find_employee(leaver)["email"] is None
    assert not runner.is_alive()

    listing = []

    class Out:
        def write(self, text: str) -> None:
            listing.append(text)

    count = list_dead_letters(read_dead_letters(settings, group), Out())  # type: ignore[arg-type]
    assert count == len(bad)
    assert any("unknown employee" in line for line in listing)
