"""The gateway's Flask app: `gunicorn 'gateway.app:create_app()'` on port 8100.

`POST /graphql` (and GET for queries; GraphiQL in a browser outside production),
`/healthz`, `/readyz`, `/metrics`. Nothing connects at creation: services, Redis and the
JWKS are reached on first use.

Ready means the gateway itself can serve, which needs nothing outside the process: a
service that is down nulls only the fields it serves (partial answers), and the rate
limit fails open without Redis. Taking every replica out of the Service when one backend
is down would turn those partial answers into no answer at all; the backends' state shows
in `cercle_gateway_service_call_seconds{outcome="unavailable"}` and their own probes."""

from __future__ import annotations

import sys

from flask import Flask

from cercle_common.httpapi import create_base_app
from cercle_common.settings import Settings
from gateway.auth import TokenVerifier
from gateway.clients import http_services
from gateway.cors import allow_cross_origin, parse_origins
from gateway.execution import GraphQLRuntime
from gateway.limits import MAX_BODY_BYTES, InFlightLimiter, RateLimiter, RedisRateLimiter
from gateway.ports import Services
from gateway.schema import schema
from gateway.view import GatewayView

# A thread executing a large query keeps the interpreter lock until the switch interval
# (5 ms by default) runs out each time a thread answering a small request wants it back,
# which that request does a dozen times (its socket, Redis, the services): a shorter one
# keeps a small query's wait short beside a large one (`bench/gateway_isolation.py`).
SWITCH_INTERVAL_S = 0.001


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    rate_limiter: RateLimiter | None = None,
) -> Flask:
    """The gateway app. Tests may pass fake `services` and a `rate_limiter`; by default
    they are the HTTP clients of the URLs in `settings` and Redis at `settings.redis_url`."""
    settings = settings or Settings.from_env()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    cors_origins = parse_origins(settings.gateway_cors_origins)
    services = services or http_services(settings)
    verifier = TokenVerifier.from_settings(settings)
    limiter = rate_limiter or RedisRateLimiter.from_url(
        settings.redis_url, settings.gateway_rate_limit
    )
    app = create_base_app("gateway", settings, ready_checks={}, max_body_bytes=MAX_BODY_BYTES)
    allow_cross_origin(app, cors_origins)
    runtime = GraphQLRuntime(
        schema.graphql_schema,
        production=settings.is_production,
        max_cost=settings.gateway_max_cost,
    )
    app.add_url_rule(
        "/graphql",
        view_func=GatewayView.as_view(
            "graphql",
            runtime=runtime,
            services=services,
            verifier=verifier,
            limiter=limiter,
            in_flight=InFlightLimiter(settings.gateway_max_in_flight),
        ),
    )
    return app
