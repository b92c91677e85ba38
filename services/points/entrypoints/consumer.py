"""The points consumer: `python -m services.points.entrypoints.consumer` (group `cercle-points`)."""

from __future__ import annotations

import argparse
import threading

from cercle_common.messaging import ConsumerLoop, make_producer, run_consumer
from cercle_common.mongo import connect, ping
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.adapters.board_index import LeaderboardIndex
from services.points.adapters.rules_file import DEFAULT_RULES, load_rules
from services.points.adapters.store import PointsStore
from services.points.entrypoints.app import index_prefix
from services.points.handlers import PointsProcessor, PointsPublisher

GROUP = "cercle-points"
# Big batches: one state snapshot per employee per batch and one bulk insert per kind.
MAX_RECORDS = 2000


def build_processor(
    settings: Settings,
    rules_path: str = str(DEFAULT_RULES),
    publish: bool = True,
    alias: str = "points-consumer",
) -> PointsProcessor:
    """The batch handler wired to MongoDB, Redis and Kafka (`alias` names the
    connection, so that several can live in one process)."""
    database = connect(settings, "points", alias=alias)
    store = PointsStore(database)
    store.ensure_indexes()
    index = LeaderboardIndex.from_url(settings.redis_url, index_prefix(settings))
    publisher = PointsPublisher(make_producer(settings)) if publish else None
    return PointsProcessor(store, index, publisher, load_rules(rules_path), settings.org_timezone)


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
    parser = argparse.ArgumentParser(prog="python -m services.points.entrypoints.consumer")
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
        ready_checks={
            "mongo": lambda: ping(processor.store.database),
            "redis": processor.index.ping,
        },
    )


if __name__ == "__main__":
    main()
