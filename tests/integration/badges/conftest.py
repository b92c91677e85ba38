"""Fixtures for the badges integration tests: the service over the real MongoDB wire
server and Kafka broker, a consumer loop in a thread with a group of its own (started at
the end of the shared topics, so it reads only what the test sends), and watchers of
output topics."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from cercle_common.envelope import Envelope
from cercle_common.messaging import client_options, make_producer
from cercle_common.settings import Settings
from services.badges.bootstrap import Components, build
from services.badges.entrypoints.consumer import TOPICS, build_loop


@pytest.fixture
def components(settings: Settings) -> Iterator[Components]:
    built = build(settings)
    yield built
    built.close()


@pytest.fixture
def producer(settings: Settings) -> Iterator[KafkaProducer]:
    made = make_producer(settings)
    yield made
    made.close(timeout=10)


@pytest.fixture
def employee_id() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"


def start_group_at_end(settings: Settings, group: str, topics: tuple[str, ...]) -> None:
    """Commit the current end of every partition for `group`, so its first poll starts
    there instead of the topics' beginning (other tests' data)."""
    consumer = KafkaConsumer(**client_options(settings), group_id=group, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, number)
            for topic in topics
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        consumer.commit({p: OffsetAndMetadata(ends[p], "", -1) for p in partitions})
    finally:
        consumer.close(autocommit=False)


@dataclass
class RunningConsumer:
    group: str
    stop: Callable[[], None]
    errors: list[BaseException] = field(default_factory=list)


@contextmanager
def running_consumer(
    settings: Settings, components: Components, group: str | None = None
) -> Iterator[RunningConsumer]:
    """The badges consumer loop in a thread, stopped (and joined) on exit."""
    group = group or f"it-badges-{uuid.uuid4().hex[:10]}"
    if group.startswith("it-badges-") and not group.endswith("-replay"):
        start_group_at_end(settings, group, TOPICS)
    loop = build_loop(settings, components, group=group)
    running = RunningConsumer(group=group, stop=loop.stop)

    def run() -> None:
        try:
            loop.run()
        except BaseException as error:  # surfaced by the test through `errors`
            running.errors.append(error)

    thread = threading.Thread(target=run, name=f"consumer-{group}", daemon=True)
    thread.start()
    try:
        yield running
    finally:
        loop.stop()
        thread.join(timeout=30)
    assert not running.errors, running.errors


class TopicWatch:
    """Reads a topic from the position it had when the watch was made."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False)
        partitions = [
            TopicPartition(topic, number)
            for number in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        self._consumer.assign(partitions)
        self._consumer.seek_to_end(*partitions)
        for partition in partitions:
            self._consumer.position(partition)
        self.records: list[Any] = []

    def collect(self, seconds: float) -> list[Any]:
        """Everything seen within `seconds` more."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for batch in self._consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)
        return self.records

    def wait_for(self, predicate: Callable[[Any], bool], seconds: float = 20.0) -> list[Any]:
        """Poll until a record satisfies `predicate` (or fail after `seconds`)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for batch in self._consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)
            if any(predicate(record) for record in self.records):
                return self.records
        raise AssertionError(f"no matching record within {seconds}s")

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def watch(settings: Settings) -> Iterator[Callable[[str], TopicWatch]]:
    made: list[TopicWatch] = []

    def make(topic: str) -> TopicWatch:
        made.append(TopicWatch(settings, topic))
        return made[-1]

    yield make
    for watcher in made:
        watcher.close()


def badge_messages(records: list[Any], employee_id: str) -> list[dict[str, Any]]:
    return [
        json.loads(record.value)
        for record in records
        if record.key == employee_id.encode() and record.value is not None
    ]


def envelope(
    employee_id: str,
    sequence: int,
    type_: str = "content.shared",
    occurred_at: str = "2026-11-02T09:00:00Z",
    event_id: str | None = None,
    **data: Any,
) -> Envelope:
    return Envelope(
        id=event_id or f"{employee_id}-ev-{sequence}",
        type=type_,
        occurred_at=datetime.fromisoformat(occurred_at.replace("Z", "+00:00")),
        employee_id=employee_id,
        data=data,
        source="test",
        sequence=sequence,
        accepted_at=datetime.now(UTC),
    )


def wait_until(check: Callable[[], Any], seconds: float = 20.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {seconds}s")
