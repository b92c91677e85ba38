"""The events API: `gunicorn 'services.events.entrypoints.app:create_app()'`."""

from __future__ import annotations

from flask import Flask

from cercle_common.httpapi import create_base_app
from cercle_common.settings import Settings
from services.events import bootstrap
from services.events.domain.events import MAX_EVENT_BYTES
from services.events.entrypoints.api import MAX_BATCH, blueprint
from services.events.handlers import Clock, utc_now


def create_app(settings: Settings | None = None, clock: Clock = utc_now) -> Flask:
    """The events API. Ready when its own database answers: Kafka being down does not
    matter, the outbox keeps what is to be published."""
    settings = settings or Settings.from_env()
    components = bootstrap.build(settings, clock)
    app = create_base_app(
        "events",
        settings,
        ready_checks={"mongo": components.store.ping},
        max_body_bytes=MAX_BATCH * MAX_EVENT_BYTES // 4,
    )
    app.extensions["cercle_events.ingestion"] = components.ingestion
    app.extensions["cercle_events.directory"] = components.directory
    app.extensions["cercle_events.catalogue"] = components.catalogue
    app.extensions["cercle_events.answers"] = components.store
    app.register_blueprint(blueprint)
    return app
