"""The points API app factory (gunicorn: `services.points.entrypoints.app:create_app()`)."""

from __future__ import annotations

from flask import Flask

from cercle_common.cursors import SignedCursors
from cercle_common.httpapi import create_base_app
from cercle_common.mongo import connect, ping
from cercle_common.settings import Settings
from services.points.adapters.board_index import LeaderboardIndex
from services.points.adapters.store import PointsStore
from services.points.entrypoints.api import blueprint
from services.points.queries import PointsQueries


def index_prefix(settings: Settings) -> str:
    """The Redis key prefix of this deployment (tests get their own through the
    database prefix)."""
    return f"{settings.mongo_db_prefix}cercle_points:"


def create_app(settings: Settings | None = None) -> Flask:
    """The points API. Connects lazily: nothing is sent to MongoDB or Redis before the
    first request."""
    settings = settings or Settings.from_env()
    database = connect(settings, "points", alias="points-api")
    index = LeaderboardIndex.from_url(settings.redis_url, index_prefix(settings))
    app = create_base_app(
        "points-api",
        settings,
        ready_checks={"mongo": lambda: ping(database), "redis": index.ping},
    )
    cursors = SignedCursors(settings.service_token, "points-pages")
    app.extensions["points_queries"] = PointsQueries(
        index, PointsStore(database), settings.org_timezone, cursors
    )
    app.register_blueprint(blueprint)
    return app
