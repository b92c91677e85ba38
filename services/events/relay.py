"""`python -m services.events.relay`: publishes the outbox to Kafka.

Each turn: read the pending events in sequence order, make sure each is in the event store
(the request that accepted it may have died before writing it), publish them on
`cercle.events.v1` (key = employee id), wait for the broker's acknowledgements, then delete
them from the outbox. Same for directory changes on `cercle.employees.v1`.

Guarantee: nothing accepted is lost. A crash after publishing and before deleting
publishes those events again on restart; consumers deduplicate on the event id (they must
anyway: the transport is at-least-once). `--crash-after-publish` is the hook the crash
test uses to die at exactly that point. Run one relay per database: two would publish the
same entries twice and could interleave their order.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaProducer
from prometheus_client import Counter, Gauge

from cercle_common.health import heartbeat_alive, serve_health_in_background
from cercle_common.jsonlog import configure_logging
from cercle_common.messaging import describe, is_infrastructure_failure, make_producer
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.events.ingest import materialize, published_envelope
from services.events.store import EventStore

log = logging.getLogger(__name__)

PUBLISHED = Counter("cercle_events_published_total", "Outbox entries published", ["topic"])
PENDING = Gauge("cercle_events_outbox_pending", "Accepted events not yet published")
RELAY_RETRIES = Counter("cercle_events_relay_retries_total", "Relay turns retried after an outage")

BATCH = 2000
# A gap in the sequence is usually a request still writing: wait this long for it before
# publishing what comes after, so that Kafka order stays the accept order.
GAP_GRACE = timedelta(seconds=3)


class Relay:
    """Moves outbox entries to Kafka; one `run_once` is one turn."""

    def __init__(
        self,
        store: EventStore,
        producer_factory: Any,
        *,
        crash_after_publish: bool = False,
        clock: Any = None,
    ) -> None:
        self.store = store
        self._producer_factory = producer_factory
        self._producer: KafkaProducer | None = None
        self._crash_after_publish = crash_after_publish
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._last_sequence = 0
        self.last_progress = time.monotonic()

    def stop(self) -> None:
        """Finish the current turn and leave."""
        self._stop.set()

    def run(self, idle_wait_s: float = 0.2, max_backoff_s: float = 30.0) -> None:
        """Turn until stopped; on an outage back off (nothing is deleted unpublished)."""
        backoff = 0.5
        while not self._stop.is_set():
            self.last_progress = time.monotonic()
            try:
                moved = self.run_once()
                backoff = 0.5
            except Exception as error:
                if not is_infrastructure_failure(error):
                    raise
                RELAY_RETRIES.inc()
                log.warning(
                    "relay: dependency unavailable, retrying",
                    extra={"error": describe(error), "backoff_s": backoff},
                )
                self._drop_producer()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)
                continue
            if moved == 0:
                self._stop.wait(idle_wait_s)
        self._drop_producer()

    def run_once(self) -> int:
        """Publish what is pending; returns how many entries were published."""
        return self._publish_events() + self._publish_directory()

    # -- events ------------------------------------------------------------------------
    def _publish_events(self) -> int:
        pending = self.store.pending_events(BATCH)
        PENDING.set(len(pending))
        ready = self._in_order(pending)
        if not ready:
            return 0
        materialize(self.store, ready, detect_strays=False)
        to_send = ready
        producer = self._producer_or_connect()
        futures = [
            producer.send(
                EVENTS,
                key=entry["employee_id"].encode(),
                value=published_envelope(entry).to_json(),
            )
            for entry in to_send
        ]
        _await_acks(producer, futures)
        PUBLISHED.labels(topic=EVENTS).inc(len(to_send))
        if self._crash_after_publish:
            log.warning("relay: crashing after publish, before marking (test hook)")
            os._exit(3)
        self.store.delete_outbox(entry["_id"] for entry in ready)
        self._last_sequence = max(self._last_sequence, ready[-1]["sequence"])
        return len(ready)

    def _in_order(self, pending: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The entries that may go now: a contiguous run of sequences, and past a gap only
        entries older than the grace (the gap is then a number that was never used)."""
        ready: list[dict[str, Any]] = []
        expected = self._last_sequence + 1 if self._last_sequence else None
        horizon = self._clock() - GAP_GRACE
        for entry in pending:
            contiguous = expected is None or entry["sequence"] == expected
            if not contiguous and _accepted_at(entry) > horizon:
                break
            ready.append(entry)
            expected = entry["sequence"] + 1
        return ready

    # -- directory -----------------------------------------------------------------------
    def _publish_directory(self) -> int:
        changes = self.store.pending_employee_changes()
        if not changes:
            return 0
        for change in changes:
            self.store.apply_employee_change(change)
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
        PUBLISHED.labels(topic=EMPLOYEES).inc(len(changes))
        self.store.delete_employee_changes(change["_id"] for change in changes)
        return len(changes)

    # -- producer ------------------------------------------------------------------------
    def _producer_or_connect(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self._producer_factory()
        return self._producer

    def close(self) -> None:
        """Close the Kafka producer (a later turn opens a new one)."""
        self._drop_producer()

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=5)
            except Exception as error:  # closing a broken client must not mask the outage
                log.debug("relay: closing producer failed", extra={"error": describe(error)})
            self._producer = None


def _await_acks(producer: KafkaProducer, futures: list[Any]) -> None:
    # flush() waits; get() raises the send error of any message the broker refused.
    producer.flush(timeout=30)
    for future in futures:
        future.get(timeout=30)


def _accepted_at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["accepted_at"].replace("Z", "+00:00"))


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m services.events.relay")
    parser.add_argument(
        "--crash-after-publish",
        action="store_true",
        help="test hook: exit right after the broker acknowledged, before marking",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging("events-relay", settings.log_level)
    store = EventStore.connect(settings)
    relay = Relay(
        store,
        lambda: make_producer(
            settings, request_timeout_ms=10_000, max_block_ms=10_000, bootstrap_timeout_ms=10_000
        ),
        crash_after_publish=args.crash_after_publish,
    )
    stop_health = serve_health_in_background(
        settings.health_port, {"mongo": store.ping}, heartbeat_alive(lambda: relay.last_progress)
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: relay.stop())
    log.info("relay started")
    try:
        relay.run()
    finally:
        stop_health()
        log.info("relay stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
