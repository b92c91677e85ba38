"""The events API: `gunicorn 'services.events.app:create_app()'`."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from cercle_common.httpapi import create_base_app
from cercle_common.settings import Settings
from services.events.api import MAX_BATCH, blueprint
from services.events.directory import Directory
from services.events.domain.events import MAX_EVENT_BYTES
from services.events.ingest import Clock, Ingestion, utc_now
from services.events.known_employees import KnownEmployees
from services.events.store import EventStore


def create_app(settings: Settings | None = None, clock: Clock = utc_now) -> Flask:
    """The events API. Ready when its own database answers: Kafka being down does not
    matter, the outbox keeps what is to be published."""
    settings = settings or Settings.from_env()
    store = EventStore.connect(settings)
    app = create_base_app(
        "events",
        settings,
        ready_checks={"mongo": store.ping},
        max_body_bytes=MAX_BATCH * MAX_EVENT_BYTES // 4,
    )
    max_age = timedelta(days=settings.event_max_age_days)
    known = KnownEmployees(store)
    app.extensions["cercle_events.ingestion"] = Ingestion(store, clock, max_age, known)
    app.extensions["cercle_events.directory"] = Directory(store, clock, known)
    app.register_blueprint(blueprint)
    return app
