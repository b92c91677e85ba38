"""Kafka producer and consumer helpers: at-least-once delivery with commits only after
the batch's effects are written, poison messages to the dead-letter topic, and a pause
with backoff (committing nothing) while a dependency is down."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from cercle_common import metrics
from cercle_common.errors import CercleError, InfrastructureError
from cercle_common.settings import Settings
from cercle_common.topics import DEADLETTER

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1_000_000

# Group membership. A member that dies without leaving (SIGKILL, a lost node) keeps its
# partitions until its session expires, and a rebalance waits for every live member to
# rejoin for up to the poll interval: kafka-python's defaults (45 s, 300 s) stalled a
# group about a minute after each crash. 10 s of session with a heartbeat every 3 s
# tolerates two lost heartbeats; 120 s between polls covers the slowest batch plus the
# longest retry pause (30 s) several times over, and bounds how long a rebalance can wait
# for a stuck member, which is then dropped from the group (it rejoins on its next poll).
GROUP_TIMEOUTS: dict[str, int] = {
    "session_timeout_ms": 10_000,
    "heartbeat_interval_ms": 3_000,
    "max_poll_interval_ms": 120_000,
}
# How long `close()` may spend leaving the group: leaving is what lets the coordinator
# hand the partitions to the other members at once instead of after the session timeout.
CLOSE_TIMEOUT_MS = 5_000
# Consecutive failed polls after which the consumer client is closed and made anew.
RECONNECT_AFTER_FAILURES = 3


def _close_sockets_of_refused_connections() -> None:
    """kafka-python 3.0 drops the socket of a refused connection without closing it: while
    a broker is down, every reconnection attempt leaks a descriptor until the collector
    finds it. Close it where the attempt fails."""
    try:
        from kafka.net.inet import KafkaNetSocket
    except ImportError:  # another release, another network layer
        return
    attempt = KafkaNetSocket.sock_connect
    if getattr(attempt, "closes_on_failure", False):
        return

    async def sock_connect(
        self: Any, net: Any, sock: Any, sockaddr: Any, timeout_at: Any = None
    ) -> Any:
        try:
            return await attempt(self, net, sock, sockaddr, timeout_at=timeout_at)
        except BaseException:
            sock.close()
            raise

    sock_connect.closes_on_failure = True  # type: ignore[attr-defined]
    KafkaNetSocket.sock_connect = sock_connect  # type: ignore[method-assign]


_close_sockets_of_refused_connections()


@dataclass(frozen=True)
class Record:
    """One consumed message, detached from the client library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def from_message(cls, message: Any) -> Record:
        """A record from kafka-python's `ConsumerRecord`."""
        return cls(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers=tuple(message.headers or ()),
        )

    @property
    def key_text(self) -> str | None:
        """The key decoded as UTF-8 (invalid bytes replaced), or None."""
        return None if self.key is None else self.key.decode("utf-8", "replace")


@dataclass(frozen=True)
class Rejection:
    """A record the handler refused as bad data, with the reason for the dead-letter topic."""

    record: Record
    error: Exception


# A batch handler writes the effects of the good records (idempotently) and returns the
# records it refused. It raises `InfrastructureError` when a dependency is down.
BatchHandler = Callable[[Sequence[Record]], list[Rejection]]


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options shared by producers, consumers and admin clients."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers.split(","),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return options


def end_offsets(settings: Settings, *topics: str) -> dict[TopicPartition, int]:
    """The offset after the last message of every partition of `topics` (what a reader
    of a whole topic reads up to)."""
    consumer = KafkaConsumer(**client_options(settings))
    try:
        partitions = [
            TopicPartition(topic, number)
            for topic in topics
            for number in consumer.partitions_for_topic(topic) or ()
        ]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A producer that waits for the broker's acknowledgement of every message."""
    options: dict[str, Any] = {
        **client_options(settings),
        "acks": "all",
        "linger_ms": 5,
        "retries": 5,
        "max_in_flight_requests_per_connection": 1,  # keeps per-key order across retries
        "max_request_size": MAX_MESSAGE_BYTES + 64_000,
    }
    options.update(overrides)
    return KafkaProducer(**options)


def is_infrastructure_failure(error: BaseException) -> bool:
    """True for an outage (broker, database, cache, network), which is retried, as opposed
    to bad data, which is dead-lettered."""
    if isinstance(error, InfrastructureError | KafkaError | ConnectionError | TimeoutError):
        return True
    module = type(error).__module__
    if module.startswith("pymongo"):
        from pymongo.errors import ConnectionFailure, OperationFailure

        if isinstance(error, ConnectionFailure):
            return True
        # Other driver failures (a refused write, a bad query) are about the data.
        return not isinstance(error, OperationFailure)
    return module.startswith("redis")


def describe(error: BaseException) -> str:
    """The reason written next to a dead letter: `field: message` where a field is known."""
    if isinstance(error, CercleError):
        return f"{error.field}: {error.message}" if error.field else error.message
    return f"{type(error).__name__}: {error}"


class DeadLetters:
    """Publishes refused records to the dead-letter topic: the original bytes as the value,
    the reason and origin in headers (so `kcat -J` shows both and a re-submission sends
    the exact bytes that were refused)."""

    def __init__(self, producer: KafkaProducer, consumer_group: str) -> None:
        self._producer = producer
        self._group = consumer_group

    def send(self, record: Record, error: Exception) -> None:
        """Queue one dead letter; `flush()` makes it durable."""
        headers = [
            ("cercle.reason", describe(error).encode()[:4000]),
            ("cercle.error_code", getattr(error, "code", "internal").encode()),
            ("cercle.field", (getattr(error, "field", None) or "").encode()),
            ("cercle.source_topic", record.topic.encode()),
            ("cercle.source_partition", str(record.partition).encode()),
            ("cercle.source_offset", str(record.offset).encode()),
            ("cercle.consumer_group", self._group.encode()),
            ("cercle.dead_lettered_at", datetime.now(UTC).isoformat().encode()),
        ]
        value = record.value
        if value is not None and len(value) > MAX_MESSAGE_BYTES:
            # A message too big to forward is described, not copied.
            value = value[:MAX_MESSAGE_BYTES]
            headers.append(("cercle.truncated", b"true"))
        self._producer.send(DEADLETTER, key=record.key, value=value, headers=headers)
        metrics.DEAD_LETTERS.labels(group=self._group, topic=record.topic).inc()
        log.warning(
            "dead-lettered",
            extra={"topic": record.topic, "offset": record.offset, "reason": describe(error)},
        )

    def flush(self) -> None:
        """Block until every queued dead letter is acknowledged."""
        self._producer.flush(timeout=30)

    def close(self) -> None:
        """Send what is queued (bounded) and close the producer."""
        self._producer.close(timeout=10)


def per_record(handle: Callable[[Record], None]) -> BatchHandler:
    """Adapts a one-record handler to a batch handler: a record that raises bad-data errors
    is refused, an outage is raised for the loop to retry the whole batch."""

    def handle_batch(records: Sequence[Record]) -> list[Rejection]:
        rejected = []
        for record in records:
            try:
                handle(record)
            except Exception as error:
                if is_infrastructure_failure(error):
                    raise
                rejected.append(Rejection(record, error))
        return rejected

    return handle_batch


class ConsumerLoop:
    """Consumes topics in a consumer group, hands each polled batch to a handler, sends
    what it refuses to the dead-letter topic, then commits. An outage anywhere (connecting,
    polling, writing, dead-lettering, committing) pauses the loop with exponential backoff
    and tries again, committing nothing it has not applied: only `stop()` ends it."""

    def __init__(
        self,
        settings: Settings,
        group: str,
        topics: Iterable[str],
        handler: BatchHandler,
        *,
        max_records: int = 500,
        poll_timeout_ms: int = 500,
        max_backoff_s: float = 30.0,
        consumer_options: dict[str, Any] | None = None,
        on_assign: Callable[[set[TopicPartition]], None] | None = None,
        consumer_factory: Callable[..., KafkaConsumer] = KafkaConsumer,
    ) -> None:
        self.group = group
        # Called (in the loop's thread) with the partitions this member is given after each
        # rebalance, before their records are polled: a handler caching state reloads it.
        self._on_assign = on_assign
        self._topics = list(topics)
        self._handler = handler
        self._max_records = max_records
        self._poll_timeout_ms = poll_timeout_ms
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._settings = settings
        self._consumer_options = consumer_options or {}
        self._consumer_factory = consumer_factory
        self._consumer: KafkaConsumer | None = None
        self._dead_letters: DeadLetters | None = None
        self._failed_polls = 0
        self.last_progress = time.monotonic()

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and leave the group."""
        self._stop.set()

    def stop_on_signals(self) -> None:
        """SIGTERM / SIGINT finish the current batch and leave cleanly."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    def run(self, max_batches: int | None = None) -> None:
        """Consume until stopped (or until `max_batches` polls that returned records),
        then leave the group, so that the other members get the partitions at once."""
        batches = 0
        backoff = _Backoff(self._max_backoff_s)
        try:
            while not self._stop.is_set():
                self.last_progress = time.monotonic()
                try:
                    records = self._poll()
                except Exception as error:
                    if not is_infrastructure_failure(error):
                        raise
                    self._after_failed_poll(error)
                    if self._stop.wait(backoff.next()):
                        break
                    continue
                backoff.reset()
                if not records:
                    continue
                if not self._process_until_done(records):
                    break  # stopped while waiting for a dependency: nothing committed
                self._commit(records)
                self._record_lag()
                batches += 1
                if max_batches is not None and batches >= max_batches:
                    break
        finally:
            self._close()

    def _poll(self) -> list[Record]:
        consumer = self._consumer or self._connect()
        polled = consumer.poll(timeout_ms=self._poll_timeout_ms, max_records=self._max_records)
        self._failed_polls = 0
        return [Record.from_message(m) for batch in polled.values() for m in batch]

    def _after_failed_poll(self, error: Exception) -> None:
        metrics.CONSUMER_RETRIES.labels(group=self.group).inc()
        self._failed_polls += 1
        log.warning(
            "Kafka unavailable, pausing the consumer",
            extra={"error": describe(error), "failures": self._failed_polls},
        )
        # kafka-python reconnects on its own; a client that keeps failing is replaced.
        if self._consumer is not None and self._failed_polls >= RECONNECT_AFTER_FAILURES:
            self._close_consumer()

    def _connect(self) -> KafkaConsumer:
        options: dict[str, Any] = {
            **client_options(self._settings),
            **GROUP_TIMEOUTS,
            "group_id": self.group,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "max_partition_fetch_bytes": MAX_MESSAGE_BYTES * 2,
            "fetch_max_bytes": MAX_MESSAGE_BYTES * 8,
        }
        options.update(self._consumer_options)
        consumer = self._consumer_factory(**options)
        try:
            # Fetch the topics' metadata before joining: a group leader that assigns
            # without it gives every member nothing ("No partition metadata for topic"),
            # until the next metadata refresh minutes later.
            for topic in self._topics:
                consumer.partitions_for_topic(topic)
            if self._on_assign is None:
                consumer.subscribe(self._topics)
            else:
                consumer.subscribe(self._topics, listener=_AssignmentListener(self._on_assign))
        except BaseException:
            with suppress(Exception):
                consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
            raise
        self._consumer = consumer
        return consumer

    def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        self._failed_polls = 0
        if consumer is not None:
            # Leaving the group can fail when the broker is down; the session then expires.
            with suppress(Exception):
                consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)

    def _close(self) -> None:
        self._close_consumer()
        if self._dead_letters is not None:
            with suppress(Exception):
                self._dead_letters.close()
            self._dead_letters = None

    def _dead_letter_sender(self) -> DeadLetters:
        if self._dead_letters is None:
            self._dead_letters = DeadLetters(make_producer(self._settings), self.group)
        return self._dead_letters

    def _process_until_done(self, records: list[Record]) -> bool:
        """Apply the batch and dead-letter what it refuses, retrying while a dependency is
        down. False when stopped first (then nothing of the batch is committed)."""
        backoff = _Backoff(self._max_backoff_s)
        while True:
            try:
                self._process(records)
                return True
            except Exception as error:
                if not is_infrastructure_failure(error):
                    raise
                delay = backoff.next()
                metrics.CONSUMER_RETRIES.labels(group=self.group).inc()
                log.warning(
                    "dependency unavailable, retrying the batch",
                    extra={"error": describe(error), "backoff_s": delay},
                )
                self._rewind(records)
                if self._stop.wait(delay):
                    return False
                self.last_progress = time.monotonic()

    def _process(self, records: list[Record]) -> None:
        rejected = self._handler(records)
        if rejected:
            sender = self._dead_letter_sender()
            for rejection in rejected:
                sender.send(rejection.record, rejection.error)
            sender.flush()
        metrics.CONSUMED.labels(group=self.group).inc(len(records) - len(rejected))

    def _commit(self, records: list[Record]) -> None:
        """Commit the applied batch. A failed commit is not retried: the effects are
        written, the next commit covers them, and a member that gets the partitions before
        that redelivers the batch, which idempotent writes absorb."""
        if self._consumer is None:
            return
        try:
            self._consumer.commit(_next_offsets(records))
        except Exception as error:
            if not is_infrastructure_failure(error):
                raise
            log.warning(
                "commit failed; the batch is applied and may be redelivered",
                extra={"error": describe(error)},
            )

    def _rewind(self, records: list[Record]) -> None:
        # Without this the next poll would move past the batch that was not applied.
        if self._consumer is None:
            return
        first: dict[TopicPartition, int] = {}
        for record in records:
            partition = TopicPartition(record.topic, record.partition)
            first[partition] = min(first.get(partition, record.offset), record.offset)
        try:
            assigned = self._consumer.assignment()
            for partition, offset in first.items():
                if partition in assigned:
                    self._consumer.seek(partition, offset)
        except Exception as error:
            if not is_infrastructure_failure(error):
                raise
            # Partitions taken away meanwhile are redelivered from the last commit.

    def _record_lag(self) -> None:
        if self._consumer is None:
            return
        consumer = self._consumer
        # A metric is not worth failing a batch for: an outage here is left to the poll.
        with suppress(Exception):
            for partition in consumer.assignment():
                highwater = consumer.highwater(partition)
                if highwater is None:
                    continue
                lag = max(highwater - consumer.position(partition), 0)
                metrics.CONSUMER_LAG.labels(
                    group=self.group, topic=partition.topic, partition=str(partition.partition)
                ).set(lag)


class _Backoff:
    """Exponential pauses: 0.5 s, 1 s, 2 s, ... up to `maximum`."""

    def __init__(self, maximum: float, first: float = 0.5) -> None:
        self._maximum = maximum
        self._first = first
        self._next = first

    def next(self) -> float:
        delay = min(self._next, self._maximum)
        self._next = min(self._next * 2, self._maximum)
        return delay

    def reset(self) -> None:
        self._next = self._first


class _AssignmentListener(ConsumerRebalanceListener):
    def __init__(self, on_assign: Callable[[set[TopicPartition]], None]) -> None:
        self._on_assign = on_assign

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._on_assign(set(assigned))


def _next_offsets(records: Sequence[Record]) -> dict[TopicPartition, Any]:
    from kafka.structs import OffsetAndMetadata

    last: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        last[partition] = max(last.get(partition, -1), record.offset)
    return {partition: OffsetAndMetadata(offset + 1, "", -1) for partition, offset in last.items()}


def run_consumer(
    service: str,
    settings: Settings,
    loop: ConsumerLoop,
    ready_checks: dict[str, Callable[[], None]] | None = None,
) -> None:
    """The body of every consumer entrypoint: JSON logs, health endpoints on
    `settings.health_port`, clean stop on SIGTERM, then the loop until stopped."""
    from cercle_common.health import heartbeat_alive, serve_health_in_background
    from cercle_common.jsonlog import configure_logging

    configure_logging(service, settings.log_level)
    stop_health = serve_health_in_background(
        settings.health_port, ready_checks, heartbeat_alive(lambda: loop.last_progress)
    )
    loop.stop_on_signals()
    log.info("consumer started", extra={"group": loop.group})
    try:
        loop.run()
    finally:
        stop_health()
        log.info("consumer stopped", extra={"group": loop.group})
