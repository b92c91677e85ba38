"""The events service through the running processes (API, relay, inbound consumer)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from kafka import KafkaConsumer, TopicPartition

from cercle_common.messaging import client_options, make_producer
from cercle_common.topics import EVENTS, INBOUND_TOPICS

pytestmark = pytest.mark.e2e


def _employee(stack) -> str:
    employee = f"e2e-{uuid.uuid4().hex[:10]}"
    response = requests.put(
        f"{stack.events_url}/v1/employees/{employee}",
        json={"display_name": "Eve", "email": "eve@example.org", "team": "e2e"},
        headers=stack.admin_headers,
        timeout=10,
    )
    assert response.status_code == 201
    return employee


def _share(employee: str) -> dict:
    return {
        "id": f"e2e-{uuid.uuid4().hex}",
        "type": "content.shared",
        "occurred_at": datetime.now(UTC).isoformat(),
        "employee_id": employee,
        # The tracker may report shares over HTTP and on the inbound topic alike.
        "source": "social-tracker",
        "data": {"content_id": "c-1", "network": "linkedin", "url": "https://example.org/p"},
    }


def test_posted_event_is_published_once_accepted(running_stack) -> None:
    settings = running_stack.settings
    consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False)
    partitions = [TopicPartition(EVENTS, p) for p in consumer.partitions_for_topic(EVENTS)]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for partition in partitions:
        consumer.position(partition)
    event = _share(_employee(running_stack))
    tracker = running_stack.headers_of("social-tracker")  # the door only
    auth = running_stack.service_headers
    first = requests.post(
        f"{running_stack.events_url}/v1/events", json=event, headers=tracker, timeout=10
    )
    again = requests.post(
        f"{running_stack.events_url}/v1/events", json=event, headers=tracker, timeout=10
    )
    assert (first.status_code, again.status_code) == (201, 200)
    deadline = time.monotonic() + 30
    found = None
    while found is None and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            for message in batch:
                body = json.loads(message.value)
                if body.get("id") == event["id"]:
                    found = body
    consumer.close()
    # The relay gives the sequence when it publishes; the event as read back then has it.
    assert first.json()["sequence"] is None or first.json()["sequence"] == found["sequence"]
    url = f"{running_stack.events_url}/v1/events/{event['id']}"
    stored = requests.get(url, headers=auth, timeout=10).json()
    assert isinstance(found["sequence"], int) and stored["sequence"] == found["sequence"]


def test_inbound_event_is_accepted_like_an_http_one(running_stack) -> None:
    event = _share(_employee(running_stack))
    auth = running_stack.service_headers
    producer = make_producer(running_stack.settings)
    topic = INBOUND_TOPICS["social-tracker"]
    producer.send(topic, key=event["employee_id"].encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()
    url = f"{running_stack.events_url}/v1/events/{event['id']}"
    deadline = time.monotonic() + 30
    response = requests.get(url, headers=auth, timeout=10)
    # Accepted (200), then published: the relay gives the sequence.
    while (
        response.status_code == 404 or response.json()["sequence"] is None
    ) and time.monotonic() < deadline:
        time.sleep(0.3)
        response = requests.get(url, headers=auth, timeout=10)
    assert response.status_code == 200 and response.json()["sequence"] >= 1
    same = requests.post(
        f"{running_stack.events_url}/v1/events",
        json=event,
        headers=running_stack.headers_of("social-tracker"),
        timeout=10,
    )
    assert same.status_code == 200 and same.json() == response.json()
