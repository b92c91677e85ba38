"""Production tokens checked against an identity provider's JWKS, served over real HTTP
on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response
from werkzeug.serving import make_server

from cercle_common.errors import Unauthorized
from cercle_common.settings import Settings
from gateway.auth import Caller, TokenVerifier
from tests.unit.gateway.production import production_settings


@pytest.fixture
def identity_provider() -> Iterator[tuple[str, Any]]:
    """A JWKS endpoint publishing one RSA key (kid `k1`); yields its URL and the key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**public_jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
    app = Flask("idp")

    @app.get("/.well-known/jwks.json")
    def keys() -> Response:
        return Response(json.dumps(jwks), content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", key
    finally:
        server.shutdown()


def _claims(settings: Settings, **overrides: Any) -> dict[str, Any]:
    return {
        "sub": "e-1",
        "roles": ["admin"],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "exp": int(time.time()) + 300,
        **overrides,
    }


def test_a_token_signed_by_the_identity_provider_is_accepted(identity_provider: Any) -> None:
    url, key = identity_provider
    settings = production_settings(jwt_jwks_url=url)
    token = jwt.encode(_claims(settings), key, algorithm="RS256", headers={"kid": "k1"})
    assert TokenVerifier.from_settings(settings).verify(token) == Caller(
        "e-1", frozenset({"admin"})
    )


def test_a_token_with_an_unknown_key_id_is_refused(identity_provider: Any) -> None:
    url, _ = identity_provider
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = production_settings(jwt_jwks_url=url)
    token = jwt.encode(_claims(settings), other, algorithm="RS256", headers={"kid": "k9"})
    with pytest.raises(Unauthorized, match="no key of the identity provider"):
        TokenVerifier.from_settings(settings).verify(token)


def test_a_token_signed_by_another_key_under_a_known_id_is_refused(
    identity_provider: Any,
) -> None:
    url, _ = identity_provider
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = production_settings(jwt_jwks_url=url)
    token = jwt.encode(_claims(settings), other, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized, match="invalid token"):
        TokenVerifier.from_settings(settings).verify(token)
