"""`python -m services.events.entrypoints.relay`: publishes the outbox to Kafka.

Each turn (`handlers.OutboxRelay`): read the oldest pending events, in the order
accepted; give each the next number of a block of sequence numbers this relay claimed
(insert-only documents whose unique `_id` is the block: atomic on FerretDB and MongoDB
alike); store each event with its sequence in the event store; publish them on
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
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable

from kafka import KafkaProducer
from prometheus_client import Counter

from cercle_common.health import heartbeat_alive, serve_health_in_background
from cercle_common.jsonlog import configure_logging
from cercle_common.messaging import describe, is_infrastructure_failure, make_producer
from cercle_common.settings import Settings
from services.events import bootstrap
from services.events.adapters.event_store import EventStore
from services.events.handlers import SEQUENCE_BLOCK, RelayDisplaced

__all__ = ["DISPLACED_EXIT_STATUS", "SEQUENCE_BLOCK", "Relay", "RelayDisplaced", "main"]

log = logging.getLogger(__name__)

RELAY_RETRIES = Counter("cercle_events_relay_retries_total", "Relay turns retried after an outage")

# A turn that moved fewer entries than this waits a moment for more (see `Relay.run`).
SMALL_TURN = 100
DISPLACED_EXIT_STATUS = 4


class Relay:
    """The relay process: turns (`run_once`) until stopped, backing off on an outage."""

    def __init__(
        self,
        store: EventStore,
        producer_factory: Callable[[], KafkaProducer],
        *,
        crash_after_publish: bool = False,
    ) -> None:
        self.store = store
        self.turn = bootstrap.relay(
            store, producer_factory, crash_after_publish=crash_after_publish
        )
        self._stop = threading.Event()
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
                self.turn.forget_block()
                log.warning(
                    "relay: dependency unavailable, retrying",
                    extra={"error": describe(error), "backoff_s": backoff},
                )
                self.close()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)
                continue
            if moved == 0:
                self._stop.wait(idle_wait_s)
            elif moved < SMALL_TURN:
                self._stop.wait(gather_s)
        self.close()

    def run_once(self) -> int:
        """Publish what is pending; returns how many entries were published."""
        return self.turn.run_once()

    def close(self) -> None:
        """Close the Kafka producer (a later turn opens a new one)."""
        self.turn.publisher.close()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m services.events.entrypoints.relay",
        description=(
            "Publish the outbox on cercle.events.v1 and cercle.employees.v1 (run exactly "
            f"one; a second one exits with status {DISPLACED_EXIT_STATUS})."
        ),
    )
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
