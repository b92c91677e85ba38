"""The identity provider's keys: fetched once and kept, fetched again when old or when a
token names a key they lack, but never more often than once per interval, whatever the
tokens say. A fake clock and a fake provider: no sleep, no HTTP."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cercle_common.errors import Unauthorized
from gateway.auth import JWKS_MAX_AGE_S, JWKS_MIN_INTERVAL_S, Caller, JwksKeys, TokenVerifier

ISSUER, AUDIENCE = "https://idp.example.com", "cercle-api"


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    """Two RSA private keys, by the kid the provider publishes them under."""
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in "ab"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Provider:
    """A JWKS endpoint that publishes the kids it is told to and counts its fetches."""

    def __init__(self, keys: dict[str, Any], published: str) -> None:
        self.keys = keys
        self.published = published
        self.fetches = 0
        self.down = False

    def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        if self.down:
            raise jwt.PyJWKClientConnectionError("identity provider unreachable")
        return {"keys": [self._jwk(kid) for kid in self.published]}

    def _jwk(self, kid: str) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(keys: dict[str, Any]) -> Provider:
    return Provider(keys, published="a")


@pytest.fixture
def verifier(provider: Provider, clock: Clock) -> TokenVerifier:
    return TokenVerifier(ISSUER, AUDIENCE, jwks=JwksKeys(provider.fetch, clock=clock))


def token(key: Any, kid: str) -> str:
    claims = {"sub": "e-1", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_tokens_signed_by_a_published_key_pass_and_the_keys_are_fetched_once(
    keys: dict[str, Any], provider: Provider, clock: Clock, verifier: TokenVerifier
) -> None:
    for _ in range(20):
        assert verifier.verify(token(keys["a"], "a")) == Caller("e-1")
        clock.now += 1
    assert provider.fetches == 1


def test_forged_key_ids_cost_one_fetch_per_interval_not_one_per_request(
    keys: dict[str, Any], provider: Provider, clock: Clock, verifier: TokenVerifier
) -> None:
    verifier.verify(token(keys["a"], "a"))
    forged = 0
    while clock.now < 1000.0 + 3 * JWKS_MIN_INTERVAL_S:
        with pytest.raises(Unauthorized, match="no key of the identity provider"):
            verifier.verify(token(keys["b"], uuid.uuid4().hex))
        forged += 1
        clock.now += 0.25
    assert forged == 360
    # The first fetch, then one each time a whole interval has passed.
    assert provider.fetches == 3


def test_a_token_without_a_key_id_is_refused_without_a_fetch_of_its_own(
    keys: dict[str, Any], provider: Provider, clock: Clock, verifier: TokenVerifier
) -> None:
    verifier.verify(token(keys["a"], "a"))
    unnamed = jwt.encode(
        {"sub": "e-1", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300},
        keys["a"],
        algorithm="RS256",
    )
    for _ in range(10):
        with pytest.raises(Unauthorized, match="no key of the identity provider"):
            verifier.verify(unnamed)
    assert provider.fetches == 1


def test_a_rotated_key_is_accepted_once_the_interval_has_passed(
    keys: dict[str, Any], provider: Provider, clock: Clock, verifier: TokenVerifier
) -> None:
    verifier.verify(token(keys["a"], "a"))
    provider.published = "ab"
    clock.now += JWKS_MIN_INTERVAL_S / 2
    with pytest.raises(Unauthorized):
        verifier.verify(token(keys["b"], "b"))
    clock.now += JWKS_MIN_INTERVAL_S / 2
    assert verifier.verify(token(keys["b"], "b")) == Caller("e-1")
    assert provider.fetches == 2


def test_keys_older_than_their_age_are_fetched_again_and_a_withdrawn_key_stops_passing(
    keys: dict[str, Any], provider: Provider, clock: Clock, verifier: TokenVerifier
) -> None:
    verifier.verify(token(keys["a"], "a"))
    provider.published = "b"
    clock.now += JWKS_MAX_AGE_S - 1
    assert verifier.verify(token(keys["a"], "a")) == Caller("e-1")
    assert provider.fetches == 1
    clock.now += 1
    with pytest.raises(Unauthorized, match="no key of the identity provider"):
        verifier.verify(token(keys["a"], "a"))
    assert provider.fetches == 2


def test_an_unreachable_provider_keeps_the_last_keys_and_is_not_asked_on_every_request(
    keys: dict[str, Any], provider: Provider, clock: Clock, verifier: TokenVerifier
) -> None:
    verifier.verify(token(keys["a"], "a"))
    provider.down = True
    clock.now += JWKS_MAX_AGE_S
    for _ in range(10):
        assert verifier.verify(token(keys["a"], "a")) == Caller("e-1")
        clock.now += 1
    assert provider.fetches == 2
    provider.down = False
    clock.now += JWKS_MIN_INTERVAL_S
    verifier.verify(token(keys["a"], "a"))
    assert provider.fetches == 3


def test_a_provider_unreachable_from_the_start_refuses_tokens_without_a_fetch_each(
    keys: dict[str, Any], provider: Provider, verifier: TokenVerifier
) -> None:
    provider.down = True
    for _ in range(5):
        with pytest.raises(Unauthorized, match="no key of the identity provider"):
            verifier.verify(token(keys["a"], "a"))
    assert provider.fetches == 1
