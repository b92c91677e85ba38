"""`/healthz`, `/readyz` and `/metrics` for every process: a Flask blueprint for the APIs,
and a small background HTTP server for the consumers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from flask import Blueprint, Flask, Response, jsonify
from werkzeug.serving import make_server

from cercle_common import metrics

log = logging.getLogger(__name__)

# A readiness check returns normally when its dependency answers and raises otherwise.
Check = Callable[[], None]


def health_blueprint(
    ready_checks: Mapping[str, Check] | None = None, alive: Callable[[], bool] | None = None
) -> Blueprint:
    """`/healthz` answers while the process is alive (and `alive()` holds); `/readyz` runs
    every readiness check and names those that fail; `/metrics` is Prometheus text."""
    blueprint = Blueprint("health", __name__)
    checks = dict(ready_checks or {})

    @blueprint.get("/healthz")
    def healthz() -> tuple[Response, int]:
        if alive is not None and not alive():
            return jsonify(status="stalled"), 503
        return jsonify(status="ok"), 200

    @blueprint.get("/readyz")
    def readyz() -> tuple[Response, int]:
        failures = {}
        for name, check in checks.items():
            try:
                check()
            except Exception as error:
                failures[name] = f"{type(error).__name__}: {error}"[:300]
        if failures:
            return jsonify(status="unavailable", failing=failures), 503
        return jsonify(status="ready", checked=sorted(checks)), 200

    @blueprint.get("/metrics")
    def metrics_text() -> Response:
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    return blueprint


def serve_health_in_background(
    port: int,
    ready_checks: Mapping[str, Check] | None = None,
    alive: Callable[[], bool] | None = None,
    host: str = "0.0.0.0",
) -> Callable[[], None]:
    """Serves the health blueprint on its own port from a daemon thread (for consumers,
    which have no HTTP API). Returns a function that stops the server."""
    app = Flask("health")
    app.register_blueprint(health_blueprint(ready_checks, alive))
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="health", daemon=True)
    thread.start()
    log.info("health endpoints listening", extra={"port": port})
    return server.shutdown


def heartbeat_alive(
    last_progress: Callable[[], float], stall_after_s: float = 300.0
) -> Callable[[], bool]:
    """An `alive` check for a loop that records `time.monotonic()` at each turn: a loop
    stuck for longer than `stall_after_s` reports not alive, so it gets restarted."""
    return lambda: time.monotonic() - last_progress() < stall_after_s
