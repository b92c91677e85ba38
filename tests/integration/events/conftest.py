"""Fixtures of the events service's integration tests: the app on a database of the test's
own, employees, and a reader of the shared topics from their current end."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import mongoengine
import pytest
from flask import Flask
from flask.testing import FlaskClient
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from cercle_common.messaging import client_options, make_producer
from cercle_common.settings import Settings
from cercle_common.topics import INBOUND_TOPICS
from services.events.adapters.event_store import ALIAS, EventStore
from services.events.entrypoints.app import create_app
from services.events.entrypoints.relay import Relay

# What the tests' events name, in the catalogue of every test's database.
CATALOGUE = {
    "contents/c-1": {"title": "Our new offices", "url": "https://example.org/c-1"},
    "courses/k-1": {"title": "Social selling", "track": "ai"},
    "surveys/s": {"questions": [{"question_id": "q", "kind": "enps"}]},
    "surveys/s-enps": {
        "questions": [
            {"question_id": "enps", "kind": "enps"},
            {"question_id": "q1", "kind": "enps"},
        ]
    },
}


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    admin = {"Authorization": f"Bearer {settings.admin_token}"}
    for path, item in CATALOGUE.items():
        answer = application.test_client().put(
            f"/v1/admin/catalogue/{path}", json=item, headers=admin
        )
        assert answer.status_code in (200, 201), answer.json
    yield application
    database = application.extensions["cercle_events.ingestion"].store.db
    database.client.drop_database(settings.database_name("events"))
    mongoengine.disconnect(alias=ALIAS)  # closes the client (no ResourceWarning)


class AsTheSourceClient(FlaskClient):
    """Presents the service token, as the gateway does; on the event door, the token of
    the source the event names, as that tool would (the first event's, for a batch).
    A request that gives its own `Authorization` header keeps it."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "")
        if "Authorization" not in headers and path in ("/v1/events", "/v1/events:batch"):
            body = kwargs.get("json")
            if isinstance(body, dict) and isinstance(body.get("events"), list) and body["events"]:
                body = body["events"][0]
            source = body.get("source") if isinstance(body, dict) else None
            tokens = self.application.config["SETTINGS"].tool_tokens()
            token = tokens.get(source) if isinstance(source, str) else None
            if token:
                headers["Authorization"] = f"Bearer {token}"
        return super().open(*args, headers=headers, **kwargs)


@pytest.fixture
def client(app: Flask, settings: Settings) -> FlaskClient:
    """A client that presents the credential of whoever speaks (see AsTheSourceClient)."""
    authenticated = AsTheSourceClient(app, app.response_class, use_cookies=True)
    authenticated.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {settings.service_token}"
    return authenticated


@pytest.fixture
def inbound_group(settings: Settings) -> str:
    """A new consumer group of the inbound topics that begins after what they already hold
    (they are shared by every test)."""
    group = f"it-events-{uuid.uuid4().hex[:8]}"
    consumer = KafkaConsumer(**client_options(settings), group_id=group, enable_auto_commit=False)
    partitions = [
        TopicPartition(topic, number)
        for topic in INBOUND_TOPICS.values()
        for number in consumer.partitions_for_topic(topic) or ()
    ]
    ends = consumer.end_offsets(partitions)
    consumer.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()})
    consumer.close()
    return group


@pytest.fixture
def store(app: Flask) -> EventStore:
    return app.extensions["cercle_events.ingestion"].store


@pytest.fixture
def admin_headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token}"}


@pytest.fixture
def new_employee(client: FlaskClient, admin_headers: dict[str, str]) -> Callable[..., str]:
    """Creates an employee with a unique id and returns the id."""

    def create(**fields: Any) -> str:
        employee_id = f"emp-{uuid.uuid4().hex[:12]}"
        body = {
            "display_name": "Ann Lee",
            "email": "ann@example.org",
            "team": "growth",
            "site": "paris",
            **fields,
        }
        response = client.put(f"/v1/employees/{employee_id}", json=body, headers=admin_headers)
        assert response.status_code == 201, response.json
        return employee_id

    return create


def share(employee_id: str, event_id: str | None = None, **data: Any) -> dict[str, Any]:
    """A valid content.shared envelope."""
    return {
        "id": event_id or f"ev-{uuid.uuid4().hex}",
        "type": "content.shared",
        "occurred_at": datetime.now(UTC).isoformat(),
        "employee_id": employee_id,
        # The tracker may send shares on both doors (HTTP and the inbound topic).
        "source": "social-tracker",
        "data": {
            "content_id": "c-1",
            "network": "linkedin",
            "url": "https://example.org/p",
            **data,
        },
    }


class TopicTail:
    """Reads a topic from the offsets it had when created (other tests share topics)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False)
        partitions = [TopicPartition(topic, p) for p in self.consumer.partitions_for_topic(topic)]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            self.consumer.position(partition)  # resolves the lazy seek now
        self.messages: list[Any] = []

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout_s: float = 30) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=300).values():
                self.messages.extend(batch)
            if predicate(self.messages):
                return self.messages
        raise AssertionError(f"condition not met in {timeout_s}s; saw {len(self.messages)}")

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def tail(settings: Settings) -> Iterator[Callable[[str], TopicTail]]:
    tails: list[TopicTail] = []

    def open_tail(topic: str) -> TopicTail:
        tails.append(TopicTail(settings, topic))
        return tails[-1]

    yield open_tail
    for opened in tails:
        opened.close()


@pytest.fixture
def make_share() -> Callable[..., dict[str, Any]]:
    """`make_share(employee_id, event_id=None, **data)`: a valid content.shared envelope."""
    return share


@pytest.fixture
def publish_outbox(settings: Settings, store: EventStore) -> Callable[[], int]:
    """Runs the relay until the outbox is empty (it gives sequences and keeps survey
    answers); returns how many events it published."""

    def publish() -> int:
        relay = Relay(store, lambda: make_producer(settings))
        published = 0
        try:
            for _ in range(50):
                published += relay.run_once()
                if store.count_pending() == 0 and not store.pending_employee_changes(1):
                    return published
            raise AssertionError("outbox not drained")
        finally:
            relay.close()

    return publish
