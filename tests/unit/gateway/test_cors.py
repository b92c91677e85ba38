"""CORS on `/graphql`: only the configured origins, echoed exactly, never `*`."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from cercle_common.settings import ConfigurationError, Settings
from gateway.app import create_app
from gateway.cors import parse_origins
from gateway.ports import Services
from tests.unit.gateway.conftest import CountingLimiter
from tests.unit.gateway.production import production_settings

APP = "https://app.example.com"
QUERY = {"query": "{ badges { id } }"}
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def gateway(
    services: Services,
    origins: str,
    settings: Settings | None = None,
    limiter: CountingLimiter | None = None,
) -> FlaskClient:
    settings = settings or Settings.from_env(
        {"env": "dev", "gateway_cors_origins": origins}, environ={}
    )
    limiter = limiter or CountingLimiter()
    return create_app(settings, services=services, rate_limiter=limiter).test_client()


def cors_headers(headers: Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("Access-Control-")}


def test_a_preflight_from_an_allowed_origin_learns_the_methods_and_headers(
    services: Services,
) -> None:
    limiter = CountingLimiter()
    client = gateway(services, f"{APP}, http://localhost:3000", limiter=limiter)
    response = client.options("/graphql", headers={"Origin": APP, **PREFLIGHT})
    assert response.status_code == 200
    assert cors_headers(response.headers) == {
        "Access-Control-Allow-Origin": APP,
        "Access-Control-Allow-Methods": "GET, POST",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept-Language",
        "Access-Control-Max-Age": "600",
    }
    assert response.headers["Vary"] == "Origin"
    # A preflight is not a request: it spends none of the caller's rate.
    assert limiter.counts == {}


def test_a_preflight_from_another_origin_gets_no_cors_header(services: Services) -> None:
    client = gateway(services, APP)
    for origin in ("https://evil.example.com", "https://app.example.com.evil.net", "null"):
        response = client.options("/graphql", headers={"Origin": origin, **PREFLIGHT})
        assert cors_headers(response.headers) == {}, origin


def test_answers_carry_the_allowed_origin_and_never_a_wildcard(services: Services) -> None:
    client = gateway(services, APP)
    allowed = client.post("/graphql", json=QUERY, headers={"Origin": APP})
    assert allowed.json == {"data": {"badges": [{"id": "sharer"}]}}
    assert cors_headers(allowed.headers) == {
        "Access-Control-Allow-Origin": APP,
        "Access-Control-Expose-Headers": "RateLimit-Limit, RateLimit-Remaining, Retry-After,"
        " WWW-Authenticate",
    }
    other = client.post("/graphql", json=QUERY, headers={"Origin": "https://evil.example.com"})
    assert other.status_code == 200
    assert cors_headers(other.headers) == {}
    assert "*" not in str(allowed.headers) + str(other.headers)


def test_refusals_carry_the_origin_too_so_the_app_can_read_why(services: Services) -> None:
    client = gateway(services, APP)
    refused = client.post(
        "/graphql", json=QUERY, headers={"Origin": APP, "Authorization": "Bearer not.a.token"}
    )
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == APP


def test_production_preflights_need_no_token(services: Services) -> None:
    settings = production_settings(jwt_jwks_url="http://idp.invalid/jwks", gateway_cors_origins=APP)
    client = gateway(services, APP, settings)
    response = client.options("/graphql", headers={"Origin": APP, **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP


def test_without_origins_no_cors_header_is_ever_sent(services: Services) -> None:
    client = gateway(services, "")
    preflight = client.options("/graphql", headers={"Origin": APP, **PREFLIGHT})
    answer = client.post("/graphql", json=QUERY, headers={"Origin": APP})
    assert cors_headers(preflight.headers) == cors_headers(answer.headers) == {}
    assert "Vary" not in answer.headers


def test_other_paths_get_no_cors_header(services: Services) -> None:
    client = gateway(services, APP)
    assert cors_headers(client.get("/readyz", headers={"Origin": APP}).headers) == {}


def test_origins_are_read_as_browsers_send_them() -> None:
    assert parse_origins(" https://App.example.com/ ,http://localhost:3000,https://a.io:443,") == {
        "https://app.example.com",
        "http://localhost:3000",
        "https://a.io",
    }


@pytest.mark.parametrize(
    "value",
    ["*", "app.example.com", "https://app.example.com/graphql", "ftp://a.io", "https://a.io:x"],
)
def test_what_is_not_an_origin_is_refused_at_start_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigurationError, match="GATEWAY_CORS_ORIGINS"):
        parse_origins(value)
