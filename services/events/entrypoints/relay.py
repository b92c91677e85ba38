"""`python -m services.events.relay`: publishes the outbox to Kafka.

Each turn: read the oldest pending events, in the order accepted; give each the next
number of a block of sequence numbers this relay claimed (insert-only documents whose
unique `_id` is the block: atomic on FerretDB and MongoDB alike); store each event with
its sequence in the event store; publish them on
`cercle.events.v1` (key = employee id) in sequence order; wait for the broker's
acknowledgements; delete them from the outbox. Same for directory changes on
`cercle.employees.v1`.

Guarantees:
- Nothing accepted is lost: an entry leaves the outbox only once the broker has it.
- An event id has one sequence, forever. A crash after storing (or publishing) and before
  deleting finds the event already stored on restart: the stored copy, with the stored
  sequence, is published again (consumers dedupe on the id). An outbox entry whose id is
  stored under another entry's nonce is a stray (a re-send that raced the relay): it is
  deleted, never published.
- One relay per database. One that finds a block claimed by another relay (the block it
  wants, or a later one) stops (exit status 4) instead of publishing: sequences stay
  unique and increase with the offset in each partition.

`--crash-after-publish` is the hook the crash test uses to die right after the broker
acknowledged, before the outbox entries are deleted.
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
from typing import Any

from kafka import KafkaProducer
from prometheus_client import Counter, Gauge

from cercle_common.health import heartbeat_alive, serve_health_in_background
from cercle_common.jsonlog import configure_logging
from cercle_common.messaging import describe, is_infrastructure_failure, make_producer
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.events.ingest import published_envelope
from services.events.store import EventStore

log = logging.getLogger(__name__)

PUBLISHED = Counter("cercle_events_published_total", "Outbox entries published", ["topic"])
PENDING = Gauge("cercle_events_outbox_pending", "Accepted events not yet published")
RELAY_RETRIES = Counter("cercle_events_relay_retries_total", "Relay turns retried after an outage")

STRAYS = Counter(
    "cercle_events_relay_strays_total", "Outbox entries of an id stored earlier, not published"
)

BATCH = 10_000
# A turn that moved fewer entries than this waits a moment for more (see `Relay.run`).
SMALL_TURN = 100
DISPLACED_EXIT_STATUS = 4
# Numbers a relay takes at a time: it starts in a fresh block (a restart leaves a gap of
# at most this many numbers; sequences stay far below the 2**32 the boards can order).
SEQUENCE_BLOCK = 10_000


def block_of(sequence: int) -> int:
    """The block a sequence number belongs to (block b holds b*BLOCK+1 .. (b+1)*BLOCK)."""
    return (sequence - 1) // SEQUENCE_BLOCK


class RelayDisplaced(RuntimeError):
    """A sequence number this relay was about to use is already claimed: another relay
    publishes from the same database. This one stops rather than interleave with it."""


class Relay:
    """Moves outbox entries to Kafka; one `run_once` is one turn."""

    def __init__(
        self,
        store: EventStore,
        producer_factory: Any,
        *,
        crash_after_publish: bool = False,
    ) -> None:
        self.store = store
        self._producer_factory = producer_factory
        self._producer: KafkaProducer | None = None
        self._crash_after_publish = crash_after_publish
        self._stop = threading.Event()
        # The next sequence to claim, and the block it is in; a fresh block is claimed on
        # the first turn, and again after an outage (a claim may have half-succeeded).
        self._next_sequence: int | None = None
        self._block: int | None = None
        self.last_progress = time.monotonic()

    def stop(self) -> None:
        """Finish the current turn and leave."""
        self._stop.set()

    def run(
        self, idle_wait_s: float = 0.2, max_backoff_s: float = 30.0, gather_s: float = 0.05
    ) -> None:
        """Turn until stopped; on an outage back off (nothing is deleted unpublished).
        After a small turn it waits `gather_s` for more: each turn is several writes, and
        on the local server every write takes its turn on the one write lock the door
        needs too, so a trickle of events should not cost a turn each."""
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
                self._next_sequence = None
                self._block = None
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
            elif moved < SMALL_TURN:
                self._stop.wait(gather_s)
        self._drop_producer()

    def run_once(self) -> int:
        """Publish what is pending; returns how many entries were published."""
        return self._publish_events() + self._publish_directory()

    # -- events ------------------------------------------------------------------------
    def _publish_events(self) -> int:
        pending = self.store.pending_events(BATCH)
        PENDING.set(len(pending))
        if not pending:
            return 0
        ready, strays = self._store_with_sequences(pending)
        if ready:
            producer = self._producer_or_connect()
            futures = [
                producer.send(
                    EVENTS,
                    key=event["employee_id"].encode(),
                    value=published_envelope(event).to_json(),
                )
                for event in ready
            ]
            _await_acks(producer, futures)
            PUBLISHED.labels(topic=EVENTS).inc(len(ready))
            if self._crash_after_publish:
                log.warning("relay: crashing after publish, before marking (test hook)")
                os._exit(3)
        if strays:
            STRAYS.inc(len(strays))
            log.info("relay: stray outbox entries dropped", extra={"count": len(strays)})
        self.store.delete_outbox([event["_id"] for event in ready] + strays)
        return len(ready) + len(strays)

    def _store_with_sequences(
        self, pending: Sequence[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Give each entry a claimed sequence and store it; returns the events to publish,
        in sequence order, and the ids of stray entries."""
        first = self._claim([entry["_id"] for entry in pending])
        candidates = [{**entry, "sequence": first + offset} for offset, entry in enumerate(pending)]
        already_stored = self.store.insert_events(candidates)
        ready: list[dict[str, Any]] = []
        strays: list[str] = []
        for candidate in candidates:
            event = candidate
            if candidate["_id"] in already_stored:
                stored = self.store.find_stored_event(candidate["_id"])
                if stored is None:  # pragma: no cover - the event store is insert-only
                    continue
                if stored.get("entry") != candidate.get("entry"):
                    strays.append(candidate["_id"])
                    continue
                # This very entry was stored before a crash: publish it again with the
                # sequence it was stored with (its claimed number here stays unused).
                event = {**stored, "answer": candidate.get("answer")}
            self._save_answer(event)
            ready.append(event)
        ready.sort(key=lambda event: event["sequence"])
        return ready, strays

    def _claim(self, event_ids: list[str]) -> int:
        if self._next_sequence is None or self._block is None:
            self._block, self._next_sequence = self._start_in_a_fresh_block()
        elif (self.store.highest_block() or 0) > self._block:
            raise RelayDisplaced(f"a block after {self._block} was claimed by another relay")
        first = self._next_sequence
        last = first + len(event_ids) - 1
        # A number is this relay's once its block is: blocks are claimed by insert, one
        # relay each, so no number is ever given twice (and no number is written down).
        for block in range(self._block + 1, block_of(last) + 1):
            if not self.store.claim_block(block):
                raise RelayDisplaced(f"block {block} is claimed by another relay")
            self._block = block
        self._next_sequence = last + 1
        return first

    def _start_in_a_fresh_block(self) -> tuple[int, int]:
        """The block after every block claimed, and its first number. A database written
        before blocks existed is read whole once, to start after its highest number."""
        highest = self.store.highest_block()
        if highest is None:
            taken = self.store.highest_sequence_taken()
            block = block_of(taken) + 1 if taken else 0
        else:
            block = highest + 1
        if not self.store.claim_block(block):
            raise RelayDisplaced(f"block {block} is claimed by another relay")
        return block, block * SEQUENCE_BLOCK + 1

    def _save_answer(self, event: dict[str, Any]) -> None:
        # A survey answer's value is kept here (never published); an erased employee's
        # answer, which arrived before the erasure, is not.
        answer = event.get("answer")
        if answer is None:
            return
        employee = self.store.find_employee(event["employee_id"]) or {}
        if not employee.get("erased"):
            self.store.save_answer(
                {
                    **answer,
                    "sequence": event["sequence"],
                    "team": employee.get("team"),
                    "site": employee.get("site"),
                }
            )

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
    except RelayDisplaced as error:
        log.error("relay: another relay is active, stopping", extra={"error": str(error)})
        return DISPLACED_EXIT_STATUS
    finally:
        stop_health()
        log.info("relay stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
