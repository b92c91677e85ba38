"""Helpers for the points service tests against the real broker, Mongo server and Redis: a
consumer loop of its own (a unique group starting at the end of the shared topics), a
producer of envelopes and directory snapshots, and the API's test client."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from cercle_common.envelope import Envelope
from cercle_common.messaging import ConsumerLoop, client_options
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.bootstrap import build_processor
from services.points.entrypoints.consumer import build_loop
from services.points.handlers import PointsProcessor

_sequences = itertools.count(int(time.time() * 10) % 2_000_000_000)


def start_group_at_end(
    settings: Settings, group: str, topics: list[str]
) -> dict[TopicPartition, int]:
    """Commit the current end of every partition for `group`, so a new group does not
    read what other tests and engineers left on the shared topics. Returns the offsets."""
    consumer = KafkaConsumer(**client_options(settings), group_id=group, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, number)
            for topic in topics
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = consumer.end_offsets(partitions)
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in ends.items()})
        return dict(ends)
    finally:
        consumer.close(autocommit=False)


def wait_until(check: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {message}")
        time.sleep(0.1)


@dataclass
class PointsHarness:
    """Produces messages and drives a points consumer loop running in a thread."""

    settings: Settings
    producer: KafkaProducer
    group: str
    start_offsets: dict[TopicPartition, int]
    processor: PointsProcessor | None = None
    loop: ConsumerLoop | None = None
    thread: threading.Thread | None = None
    sent: list[Envelope] = field(default_factory=list)
    crashed: BaseException | None = None

    def employee(
        self,
        employee_id: str | None = None,
        team: str = "t-a",
        site: str = "s-a",
        visibility: str = "visible",
        pseudonym: str | None = None,
        active: bool = True,
    ) -> str:
        """Publish a directory snapshot; returns the employee id."""
        employee_id = employee_id or f"e-{uuid.uuid4().hex[:12]}"
        body = {
            "employee_id": employee_id,
            "team": team,
            "department": "d",
            "site": site,
            "country": "FR",
            "locale": "fr",
            "fte": 1.0,
            "visibility": visibility,
            "pseudonym": pseudonym,
            "active": active,
            "version": 1,
        }
        self.producer.send(EMPLOYEES, key=employee_id.encode(), value=json.dumps(body).encode())
        self.producer.flush()
        return employee_id

    def erase(self, employee_id: str) -> None:
        """Publish a directory tombstone."""
        self.producer.send(EMPLOYEES, key=employee_id.encode(), value=None)
        self.producer.flush()

    def event(
        self,
        employee_id: str,
        event_type: str,
        data: dict[str, Any],
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        sequence: int | None = None,
    ) -> Envelope:
        """Publish an accepted event (with a fresh sequence unless given)."""
        envelope = Envelope(
            id=event_id or f"ev-{uuid.uuid4().hex}",
            type=event_type,
            occurred_at=occurred_at or datetime.now(UTC).replace(microsecond=0),
            employee_id=employee_id,
            data=data,
            source="test",
            sequence=sequence if sequence is not None else next(_sequences),
            accepted_at=datetime.now(UTC),
        )
        self.producer.send(EVENTS, key=employee_id.encode(), value=envelope.to_json())
        self.producer.flush()
        self.sent.append(envelope)
        return envelope

    def raw(self, topic: str, key: str, value: bytes) -> None:
        """Publish arbitrary bytes."""
        self.producer.send(topic, key=key.encode(), value=value)
        self.producer.flush()

    def start(self, processor: PointsProcessor | None = None) -> PointsProcessor:
        """Start (or restart) the consumer loop in a thread."""
        self.processor = processor or build_processor(self.settings)
        self.loop = build_loop(self.settings, self.processor, group=self.group, poll_timeout_ms=200)
        loop = self.loop

        def run() -> None:
            try:
                loop.run()
            except Exception as error:  # a simulated crash ends the loop, as it would the process
                self.crashed = error

        self.crashed = None
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self.processor

    def stop(self) -> None:
        """Stop the loop (it finishes its batch and commits)."""
        if self.loop is not None and self.thread is not None:
            self.loop.stop()
            self.thread.join(timeout=30)
            assert not self.thread.is_alive(), "the consumer loop did not stop"
        self.loop = None
        self.thread = None

    def wait_applied(self, employee_id: str, sequence: int, timeout: float = 30.0) -> None:
        """Wait until the running processor has applied `employee_id` up to `sequence`."""

        def applied() -> bool:
            assert self.processor is not None
            state = self.processor.states.get(employee_id)
            return state is not None and state.last_sequence >= sequence

        wait_until(applied, timeout, f"{employee_id} to reach sequence {sequence}")
