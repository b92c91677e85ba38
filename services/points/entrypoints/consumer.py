"""The points consumer: `python -m services.points.entrypoints.consumer` (group
`cercle-points`), over `cercle.events.v1` and `cercle.employees.v1`; each polled batch
goes to the service layer's batch handler (`handlers.PointsProcessor`)."""

from __future__ import annotations

import argparse
import threading

from cercle_common.messaging import ConsumerLoop, run_consumer
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.adapters.rules_file import DEFAULT_RULES
from services.points.bootstrap import build_processor
from services.points.handlers import PointsProcessor

__all__ = ["GROUP", "MAX_RECORDS", "build_loop", "build_processor", "main"]

GROUP = "cercle-points"
# Big batches: one state snapshot per employee per batch and one bulk insert per kind.
MAX_RECORDS = 2000


def build_loop(
    settings: Settings, processor: PointsProcessor, group: str = GROUP, **options: object
) -> ConsumerLoop:
    """The consumer loop over the events and the directory."""
    return ConsumerLoop(
        settings,
        group,
        [EVENTS, EMPLOYEES],
        processor.handle_batch,
        max_records=MAX_RECORDS,
        on_assign=processor.partitions_assigned,
        **options,  # type: ignore[arg-type]
    )


def main(argv: list[str] | None = None) -> None:
    """Run the consumer until SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m services.points.entrypoints.consumer",
        description="Score the accepted events into the points ledger, the period totals "
        "and the leaderboard index (consumer group cercle-points).",
    )
    parser.add_argument("--rules", default=str(DEFAULT_RULES), help="the rules file (YAML)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    processor = build_processor(settings, args.rules)
    loop = build_loop(settings, processor)
    # A daemon thread: it ends with the process.
    processor.watch_index(threading.Event())
    run_consumer(
        "points-consumer",
        settings,
        loop,
        ready_checks={"mongo": processor.store.ping, "redis": processor.index.ping},
    )


if __name__ == "__main__":
    main()
