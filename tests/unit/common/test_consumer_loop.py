"""The consumer loop survives every Kafka failure (connecting, polling, committing) and
leaves its group on stop: proven with a fake client that fails on cue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaConnectionError, KafkaTimeoutError

from cercle_common.messaging import GROUP_TIMEOUTS, ConsumerLoop, Record, Rejection
from cercle_common.settings import Settings

TOPIC = "t"


@dataclass
class Message:
    offset: int
    value: bytes
    topic: str = TOPIC
    partition: int = 0
    key: bytes | None = b"k"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class FakeConsumer:
    """Plays a script: each poll returns the next item (a list of messages) or raises it."""

    def __init__(self, broker: FakeBroker, options: dict[str, Any]) -> None:
        self.broker = broker
        self.options = options
        self.closed_with: dict[str, Any] | None = None

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        pass

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Message]]:
        if not self.broker.script:
            self.broker.loop.stop()
            return {}
        step = self.broker.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return {TopicPartition(TOPIC, 0): step}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        if self.broker.commit_failures:
            raise self.broker.commit_failures.pop(0)
        self.broker.committed.append({tp.partition: meta.offset for tp, meta in offsets.items()})

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, 0)}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        pass

    def highwater(self, partition: TopicPartition) -> int | None:
        return None

    def close(self, autocommit: bool = True, timeout_ms: int | None = None) -> None:
        self.closed_with = {"autocommit": autocommit, "timeout_ms": timeout_ms}


class FakeBroker:
    def __init__(self, script: list[Any], connect_failures: int = 0) -> None:
        self.script = script
        self.connect_failures = connect_failures
        self.commit_failures: list[Exception] = []
        self.committed: list[dict[int, int]] = []
        self.consumers: list[FakeConsumer] = []
        self.applied: list[bytes] = []
        self.loop: ConsumerLoop

    def connect(self, **options: Any) -> FakeConsumer:
        if self.connect_failures:
            self.connect_failures -= 1
            raise KafkaTimeoutError("Unable to bootstrap")
        consumer = FakeConsumer(self, options)
        self.consumers.append(consumer)
        return consumer

    def handle(self, records: Sequence[Record]) -> list[Rejection]:
        self.applied.extend(record.value or b"" for record in records)
        return []

    def run(self) -> None:
        self.loop = ConsumerLoop(
            Settings.from_env({}),
            "g",
            [TOPIC],
            self.handle,
            max_backoff_s=0.001,
            consumer_factory=self.connect,
        )
        self.loop.run()


def test_a_broker_outage_while_polling_pauses_the_loop_instead_of_ending_it() -> None:
    broker = FakeBroker(
        [
            [Message(0, b"a")],
            KafkaConnectionError("broker gone"),
            KafkaConnectionError("broker gone"),
            [Message(1, b"b")],
        ]
    )
    broker.run()
    assert broker.applied == [b"a", b"b"]
    assert broker.committed == [{0: 1}, {0: 2}]


def test_a_failing_client_is_replaced_by_a_new_one() -> None:
    outage = [KafkaConnectionError("broker gone") for _ in range(4)]
    broker = FakeBroker([*outage, [Message(0, b"a")]])
    broker.run()
    assert broker.applied == [b"a"]
    assert len(broker.consumers) == 2
    assert broker.consumers[0].closed_with is not None


def test_the_loop_waits_for_a_broker_that_is_down_at_start() -> None:
    broker = FakeBroker([[Message(0, b"a")]], connect_failures=3)
    broker.run()
    assert broker.applied == [b"a"]
    assert broker.committed == [{0: 1}]


def test_a_failed_commit_neither_ends_the_loop_nor_applies_the_batch_twice() -> None:
    broker = FakeBroker([[Message(0, b"a")], [Message(1, b"b")]])
    broker.commit_failures = [CommitFailedError("rebalanced")]
    broker.run()
    assert broker.applied == [b"a", b"b"]
    # The second commit covers the first batch too.
    assert broker.committed == [{0: 2}]


def test_stopping_leaves_the_group_within_a_bounded_time() -> None:
    broker = FakeBroker([[Message(0, b"a")]])
    broker.run()
    closed = broker.consumers[0].closed_with
    assert closed is not None
    assert closed["autocommit"] is False
    assert closed["timeout_ms"] is not None and closed["timeout_ms"] <= 10_000


def test_group_timeouts_let_the_group_notice_a_dead_member_within_seconds() -> None:
    broker = FakeBroker([[Message(0, b"a")]])
    broker.run()
    options = broker.consumers[0].options
    for name, value in GROUP_TIMEOUTS.items():
        assert options[name] == value
    assert options["session_timeout_ms"] <= 10_000
    assert options["heartbeat_interval_ms"] * 3 <= options["session_timeout_ms"]
