"""The badges API app factory (port 8103):
`gunicorn 'services.badges.entrypoints.app:create_app()'`."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from cercle_common.httpapi import create_base_app
from cercle_common.mongo import ping
from cercle_common.settings import Settings
from services.badges.bootstrap import build
from services.badges.domain.catalogue import Catalogue
from services.badges.entrypoints import api
from services.badges.entrypoints.queries import BadgeQueries


def create_app(
    settings: Settings | None = None,
    *,
    catalogue: Catalogue | None = None,
    email_of: Callable[[str], str] | None = None,
) -> Flask:
    """The badges API. `catalogue` and `email_of` replace the default catalogue and the
    events-service email lookup (tests); nothing connects until the first request."""
    settings = settings or Settings.from_env()
    components = build(settings, catalogue)
    app = create_base_app(
        "badges", settings, ready_checks={"mongo": lambda: ping(components.database)}
    )
    lookup = email_of or components.emails.email_of
    app.extensions["badges"] = BadgeQueries(components, lookup)
    app.register_blueprint(api.blueprint)
    return app
