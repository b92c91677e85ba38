"""Proves kafka-python against the pinned broker: produce, consume in a group, commit,
restart, resume where the group left off; and the shared consumer loop's dead letters."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence

import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from cercle_common.errors import ValidationError
from cercle_common.messaging import (
    ConsumerLoop,
    Record,
    Rejection,
    client_options,
    make_producer,
    per_record,
)
from cercle_common.settings import Settings
from cercle_common.topics import DEADLETTER


@pytest.fixture
def topic(settings: Settings) -> Iterator[str]:
    name = f"test.roundtrip.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**client_options(settings))
    admin.create_topics([NewTopic(name, 3, 1)])
    yield name
    admin.delete_topics([name])
    admin.close()


def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = make_producer(settings)
    for value in values:
        producer.send(topic, key=value[:1], value=value)
    producer.flush()
    producer.close()


def consume(
    settings: Settings, topic: str, group: str, expected: int, within_s: float = 20
) -> list[bytes]:
    """Consume in `group` until `expected` messages or `within_s`, commit, leave the group."""
    consumer = KafkaConsumer(
        topic,
        **client_options(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    seen: list[bytes] = []
    deadline = time.monotonic() + within_s
    while len(seen) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            seen.extend(message.value for message in batch)
    consumer.commit()
    consumer.close()
    return seen


def test_group_resumes_after_restart_where_it_committed(settings: Settings, topic: str) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = [f"a{i}".encode() for i in range(30)]
    produce(settings, topic, first)
    assert sorted(consume(settings, topic, group, 30)) == sorted(first)

    second = [f"b{i}".encode() for i in range(12)]
    produce(settings, topic, second)
    # A new consumer in the same group (a restart) sees only what came after the commit.
    assert sorted(consume(settings, topic, group, 12)) == sorted(second)


def dead_letters_for(settings: Settings, source_topic: str, expected: int) -> list[dict]:
    consumer = KafkaConsumer(
        DEADLETTER,
        **client_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    found: list[dict] = []
    deadline = time.monotonic() + 20
    while len(found) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            for message in batch:
                headers = {key: value.decode() for key, value in message.headers}
                if headers.get("cercle.source_topic") == source_topic:
                    found.append({"value": message.value, **headers})
    consumer.close()
    return found


def test_loop_dead_letters_bad_records_with_reason_and_commits(
    settings: Settings, topic: str
) -> None:
    produce(settings, topic, [b"good-1", b"\xff-not-utf8", b"good-2"])
    applied: list[bytes] = []

    def handle(record: Record) -> None:
        assert record.value is not None
        try:
            record.value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValidationError("not UTF-8", "value") from error
        applied.append(record.value)

    group = f"g-{uuid.uuid4().hex[:8]}"
    loop = ConsumerLoop(settings, group, [topic], per_record(handle))
    deadline = time.monotonic() + 30
    while len(applied) < 2 and time.monotonic() < deadline:
        loop.run(max_batches=1)

    assert sorted(applied) == [b"good-1", b"good-2"]
    letters = dead_letters_for(settings, topic, 1)
    assert len(letters) == 1
    assert letters[0]["value"] == b"\xff-not-utf8"  # the original bytes, untouched
    assert letters[0]["cercle.reason"] == "value: not UTF-8"
    assert letters[0]["cercle.consumer_group"] == group
    # Everything was committed: the same group has nothing left to read.
    assert consume(settings, topic, group, 1, within_s=6) == []


def test_loop_retries_a_batch_while_a_dependency_is_down(settings: Settings, topic: str) -> None:
    produce(settings, topic, [b"x1", b"x2"])
    calls: list[int] = []
    applied: list[bytes] = []

    def flaky(records: Sequence[Record]) -> list[Rejection]:
        calls.append(len(records))
        if len(calls) <= 2:
            raise ConnectionRefusedError("database down")
        applied.extend(record.value or b"" for record in records)
        return []

    group = f"g-{uuid.uuid4().hex[:8]}"
    loop = ConsumerLoop(settings, group, [topic], flaky, max_backoff_s=0.2)
    deadline = time.monotonic() + 30
    while len(applied) < 2 and time.monotonic() < deadline:
        loop.run(max_batches=1)

    assert sorted(applied) == [b"x1", b"x2"]
    assert len(calls) >= 3  # two failed attempts, then the same records again
    # Applied once, then committed: a restart of the group finds nothing left.
    assert consume(settings, topic, group, 1, within_s=6) == []
