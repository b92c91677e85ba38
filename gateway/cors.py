"""Cross-origin access to `/graphql` for web apps served from another origin than the
gateway (`GATEWAY_CORS_ORIGINS`, comma separated; empty: no CORS headers at all).

Only the listed origins get `Access-Control-Allow-Origin`, echoed exactly: never `*`,
and never `Access-Control-Allow-Credentials`, since callers authenticate with a bearer
token, not a cookie. A preflight (`OPTIONS` with `Access-Control-Request-Method`) from a
listed origin learns the methods and headers `/graphql` takes; one from another origin
gets no CORS header, so the browser refuses to send the request. A small `after_request`
hook does this: flask-cors would add a dependency for the same few headers."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from cercle_common.settings import ConfigurationError

ALLOWED_METHODS = "GET, POST"
ALLOWED_HEADERS = "Authorization, Content-Type, Accept-Language"
# What a browser app may read of an answer beyond the simple headers.
EXPOSED_HEADERS = "RateLimit-Limit, RateLimit-Remaining, Retry-After, WWW-Authenticate"
PREFLIGHT_MAX_AGE_S = 600
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origins(value: str) -> frozenset[str]:
    """The origins of a comma-separated list, as browsers send them in `Origin`
    (`https://app.example.com`, `http://localhost:3000`); a `ConfigurationError` naming
    GATEWAY_CORS_ORIGINS for anything else (a path, `*`, no scheme)."""
    origins = set()
    for item in value.split(","):
        text = item.strip().rstrip("/")
        if not text:
            continue
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (
            parts.scheme not in DEFAULT_PORTS
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username is not None
            or port == -1
        ):
            raise ConfigurationError(
                f"GATEWAY_CORS_ORIGINS: {item.strip()!r} is not an origin"
                " such as https://app.example.com"
            )
        origin = f"{parts.scheme}://{parts.hostname}"
        if port is not None and port != DEFAULT_PORTS[parts.scheme]:
            origin += f":{port}"
        origins.add(origin)
    return frozenset(origins)


def allow_cross_origin(app: Flask, origins: frozenset[str], path: str = "/graphql") -> None:
    """Answer CORS requests to `path` from `origins` (nothing to do when there are none)."""
    if not origins:
        return

    @app.after_request
    def add_cors_headers(response: Response) -> Response:
        if request.path != path:
            return response
        # The answer depends on the Origin: caches must keep one per origin.
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if origin not in origins:
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
        else:
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response
