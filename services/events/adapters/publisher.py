"""The relay's Kafka publishing (the `EventPublisher` port): accepted events on
`cercle.events.v1` and directory changes on `cercle.employees.v1`, keyed by employee,
each call returning once the broker acknowledged every message."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaProducer

from cercle_common.messaging import describe
from cercle_common.topics import EMPLOYEES, EVENTS
from services.events.domain.accepted import AcceptedEvent

log = logging.getLogger(__name__)

CRASH_EXIT_STATUS = 3


class KafkaEventPublisher:
    """Sends through a producer made on first use (and again after `close`).
    `crash_after_publish` is the hook the crash test uses: the process dies right after
    the broker acknowledged events, before the relay takes them out of the outbox."""

    def __init__(
        self, producer_factory: Callable[[], KafkaProducer], *, crash_after_publish: bool = False
    ) -> None:
        self._producer_factory = producer_factory
        self._producer: KafkaProducer | None = None
        self._crash_after_publish = crash_after_publish

    def publish_events(self, events: Sequence[AcceptedEvent]) -> None:
        """Publish in the order given (the relay's: sequence order)."""
        producer = self._producer_or_connect()
        futures = [
            producer.send(EVENTS, key=event.employee_id.encode(), value=event.envelope().to_json())
            for event in events
        ]
        _await_acks(producer, futures)
        if self._crash_after_publish:
            log.warning("relay: crashing after publish, before marking (test hook)")
            os._exit(CRASH_EXIT_STATUS)

    def publish_employee_changes(self, changes: Sequence[dict[str, Any]]) -> None:
        """Each change's snapshot; None (a tombstone) for an erasure."""
        producer = self._producer_or_connect()
        futures = [
            producer.send(
                EMPLOYEES,
                key=change["employee_id"].encode(),
                value=None if change["snapshot"] is None else _json(change["snapshot"]),
            )
            for change in changes
        ]
        _await_acks(producer, futures)

    def close(self) -> None:
        """Close the producer (a later call opens a new one)."""
        if self._producer is not None:
            try:
                self._producer.close(timeout=5)
            except Exception as error:  # closing a broken client must not mask the outage
                log.debug("relay: closing producer failed", extra={"error": describe(error)})
            self._producer = None

    def _producer_or_connect(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self._producer_factory()
        return self._producer


def _await_acks(producer: KafkaProducer, futures: list[Any]) -> None:
    # flush() waits; get() raises the send error of any message the broker refused.
    producer.flush(timeout=30)
    for future in futures:
        future.get(timeout=30)


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
