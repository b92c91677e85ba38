"""What every Flask API of Cercle shares: JSON errors (never a stack trace, never a bare
500 for bad input), body parsing with limits, request metrics and the health endpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Request, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from cercle_common import metrics
from cercle_common.envelope import decode_json_object
from cercle_common.errors import CercleError, MalformedRequest
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
