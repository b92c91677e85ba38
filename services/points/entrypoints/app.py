"""The points API app factory (gunicorn: `services.points.entrypoints.app:create_app()`)."""

from __future__ import annotations

from flask import Flask

from cercle_common.httpapi import create_base_app
from cercle_common.settings import Settings
from services.points.bootstrap import build_queries
from services.points.entrypoints.api import blueprint


def create_app(settings: Settings | None = None) -> Flask:
    """The points API. Connects lazily: nothing is sent to MongoDB or Redis before the
    first request."""
    settings = settings or Settings.from_env()
    queries = build_queries(settings)
    app = create_base_app(
        "points-api",
        settings,
        ready_checks={"mongo": queries.store.ping, "redis": queries.index.ping},
    )
    app.extensions["points_queries"] = queries
    app.register_blueprint(blueprint)
    return app
