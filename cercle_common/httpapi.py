"""What every Flask API of Cercle shares: JSON errors (never a stack trace, never a bare
500 for bad input), body parsing with limits, request metrics and the health endpoints."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Request, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from cercle_common import metrics
from cercle_common.envelope import decode_json_object
from cercle_common.errors import CercleError, MalformedRequest, Unauthorized
from cercle_common.health import Check, health_blueprint
from cercle_common.jsonlog import configure_logging
from cercle_common.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1_000_000


def create_base_app(
    service: str,
    settings: Settings,
    ready_checks: Mapping[str, Check] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Flask:
    """A Flask app with the shared error handling, limits, metrics and health endpoints;
    the service registers its own blueprints on it."""
    configure_logging(service, settings.log_level)
    app = Flask(service)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config["SETTINGS"] = settings
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(health_blueprint(ready_checks))
    register_error_handlers(app)
    _measure_requests(app, service)
    return app


def register_error_handlers(app: Flask) -> None:
    """Every error leaves as `{"error": {"code", "message", "field"}}`."""

    @app.errorhandler(CercleError)
    def cercle_error(error: CercleError) -> tuple[Response, int]:
        return jsonify(error.to_dict()), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        body = {"error": {"code": code, "message": error.description, "field": None}}
        return jsonify(body), status

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unhandled error", extra={"path": request.path})
        body = {"error": {"code": "internal", "message": "internal error", "field": None}}
        return jsonify(body), 500


def json_body(req: Request | None = None) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    req = req or request
    if not req.mimetype or not req.is_json:
        raise MalformedRequest("expected Content-Type: application/json")
    return decode_json_object(req.get_data(cache=True))


# Probes and metrics are scraped without credentials.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


# Who presented a token (`caller()`): the administrator, Cercle's own components (the
# service token), or an internal tool, named by the source it speaks for ("lms", ...).
ADMIN_CALLER = "admin"
SERVICE_CALLER = "service"


def service_token_guard(
    public_prefixes: tuple[str, ...] = (), *, tools: bool = False
) -> Callable[[], None]:
    """A `before_request` hook for a service's blueprint: every request must present
    `Authorization: Bearer <token>` with the service token or the admin token (admin
    routes check it again themselves), or, with `tools`, an internal tool's own token.
    The caller it names is kept for the request (`caller()`). Paths under
    `public_prefixes` stay open, as do the health endpoints. A missing or wrong token is
    a 401 naming `Authorization`."""

    def require_service_token() -> None:
        if request.path in OPEN_PATHS or request.path.startswith(public_prefixes):
            return
        settings = settings_of(current_app)
        token = bearer_token(request.headers.get("Authorization"))
        known = {ADMIN_CALLER: settings.admin_token, SERVICE_CALLER: settings.service_token}
        if tools:
            known.update(settings.tool_tokens())
        found = [name for name, expected in known.items() if _same(token, expected)]
        if not found:
            raise Unauthorized("a valid service bearer token is required", "Authorization")
        g.caller = found[0]

    return require_service_token


def caller() -> str:
    """Who the request's token names (`service_token_guard` ran before)."""
    name: str = g.caller
    return name


def bearer_token(header: str | None) -> str:
    """The token of `Authorization: Bearer <token>`, or a 401 saying what is expected."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected Authorization: Bearer <token>", "Authorization")
    return token.strip()


def _same(given: str, expected: str) -> bool:
    # Constant time, so the token cannot be guessed a character at a time; an empty
    # configured token never matches.
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def settings_of(app: Flask) -> Settings:
    """The settings the app was created with."""
    settings: Settings = app.config["SETTINGS"]
    return settings


def _measure_requests(app: Flask, service: str) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started_at = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        started = g.get("started_at")
        if started is not None:
            metrics.HTTP_LATENCY.labels(service=service, method=request.method).observe(
                time.perf_counter() - started
            )
        metrics.HTTP_REQUESTS.labels(
            service=service, method=request.method, status=str(response.status_code)
        ).inc()
        return response
