"""Wires the points service's real adapters to its service layer, for the API, the consumer
and the command-line tools alike (unit tests wire the fakes of `tests/unit/points/fakes.py`
instead). Nothing here connects: the MongoDB and Redis clients connect at their first
command; only `build_processor` creates the store's indexes, as the consumer did at start."""

from __future__ import annotations

from pathlib import Path

from cercle_common.cursors import SignedCursors
from cercle_common.messaging import make_producer
from cercle_common.mongo import connect
from cercle_common.settings import Settings
from services.points.adapters.board_index import LeaderboardIndex
from services.points.adapters.publisher import PointsPublisher
from services.points.adapters.rules_file import DEFAULT_RULES, load_rules
from services.points.adapters.store import PointsStore
from services.points.handlers import PointsProcessor, PointsQueries

SERVICE = "points"


def connect_store(settings: Settings, alias: str) -> PointsStore:
    """The store on the database `cercle_points` (with the settings' prefix); `alias`
    names the connection, so that several can live in one process."""
    return PointsStore(connect(settings, SERVICE, alias=alias))


def connect_index(settings: Settings) -> LeaderboardIndex:
    """The leaderboard index of this deployment on the configured Redis."""
    return LeaderboardIndex.from_settings(settings)


def build_processor(
    settings: Settings,
    rules_path: Path | str = DEFAULT_RULES,
    publish: bool = True,
    alias: str = "points-consumer",
) -> PointsProcessor:
    """The consumer's batch handler wired to MongoDB, Redis and Kafka (without a publisher
    when not `publish`); creates the store's indexes."""
    store = connect_store(settings, alias)
    store.ensure_indexes()
    index = connect_index(settings)
    publisher = PointsPublisher(make_producer(settings)) if publish else None
    return PointsProcessor(store, index, publisher, load_rules(rules_path), settings.org_timezone)


def build_queries(settings: Settings, alias: str = "points-api") -> PointsQueries:
    """The read side wired to MongoDB and Redis, with cursors signed under a key derived
    from `SERVICE_TOKEN`."""
    cursors = SignedCursors(settings.service_token, "points-pages")
    return PointsQueries(
        connect_index(settings), connect_store(settings, alias), settings.org_timezone, cursors
    )
