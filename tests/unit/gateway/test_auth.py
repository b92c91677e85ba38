"""Bearer tokens: pinned algorithms, issuer, audience, expiry; dev tokens never in prod."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cercle_common.errors import Unauthorized
from cercle_common.settings import Settings
from gateway.auth import (
    Caller,
    ConfigurationError,
    TokenVerifier,
    bearer_token,
    issue_dev_token,
)
from gateway.token import main as token_main
from tests.unit.gateway.production import production_settings

DEV = Settings.from_env({"env": "dev"}, environ={})


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[Any, str]:
    """A private key and its PEM public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public.decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "e-1",
        "roles": ["admin"],
        "iss": DEV.jwt_issuer,
        "aud": DEV.jwt_audience,
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def prod(public_key: str) -> Settings:
    return production_settings(jwt_public_key=public_key)


def test_a_dev_token_names_the_employee_and_roles() -> None:
    token = issue_dev_token(DEV, "e-1042", ["admin"])
    assert TokenVerifier.from_settings(DEV).verify(token) == Caller("e-1042", frozenset({"admin"}))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"exp": int(time.time()) - 120}, "token expired"),
        ({"aud": "another-api"}, "token not meant for this API (aud)"),
        ({"iss": "someone-else"}, "token from an unknown issuer (iss)"),
        ({"exp": None}, "token lacks the exp claim"),
        ({"sub": None}, "token lacks the sub claim"),
        ({"sub": "e-\ud800"}, "the sub claim must be an employee id (valid Unicode)"),
        ({"roles": "admin"}, None),
        ({"roles": [1]}, "the roles claim must be a list of strings"),
    ],
)
def test_claims_are_checked(overrides: dict[str, Any], message: str | None) -> None:
    token = jwt.encode(claims(**overrides), DEV.jwt_secret, algorithm="HS256")
    verifier = TokenVerifier.from_settings(DEV)
    if message is None:
        assert verifier.verify(token).roles == frozenset({"admin"})
        return
    with pytest.raises(Unauthorized) as refused:
        verifier.verify(token)
    assert refused.value.message == message


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = jwt.encode(claims(), "not-the-secret-but-long-enough-0123456789", algorithm="HS256")
    with pytest.raises(Unauthorized, match="invalid token"):
        TokenVerifier.from_settings(DEV).verify(token)


def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode(claims(), None, algorithm="none")
    with pytest.raises(Unauthorized, match="none are not accepted"):
        TokenVerifier.from_settings(DEV).verify(token)


def test_production_refuses_dev_tokens_and_accepts_rs256(rsa_keys: tuple[Any, str]) -> None:
    private_key, public_pem = rsa_keys
    verifier = TokenVerifier.from_settings(prod(public_pem))
    with pytest.raises(Unauthorized, match="HS256 are not accepted"):
        verifier.verify(issue_dev_token(DEV, "e-1"))
    token = jwt.encode(claims(roles=[]), private_key, algorithm="RS256")
    assert verifier.verify(token) == Caller("e-1")


def test_hs256_signed_with_the_public_key_is_refused(rsa_keys: tuple[Any, str]) -> None:
    # The classic confusion attack: the RSA public key used as an HMAC secret.
    _, public_pem = rsa_keys

    def part(value: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

    signed = part({"alg": "HS256", "typ": "JWT"}) + b"." + part(claims())
    mac = hmac.new(public_pem.encode(), signed, hashlib.sha256).digest()
    forged = (signed + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    with pytest.raises(Unauthorized, match="HS256 are not accepted"):
        TokenVerifier.from_settings(prod(public_pem)).verify(forged)


def test_a_token_with_a_critical_header_the_gateway_does_not_know_is_refused(
    rsa_keys: tuple[Any, str],
) -> None:
    # RFC 7515: a `crit` extension the recipient does not understand voids the token
    # (PyJWT before 2.12 ignored it).
    private_key, public_pem = rsa_keys
    headers = {"crit": ["x-must-check"], "x-must-check": "policy-7"}
    token = jwt.encode(claims(), private_key, algorithm="RS256", headers=headers)
    with pytest.raises(Unauthorized, match="malformed token"):
        TokenVerifier.from_settings(prod(public_pem)).verify(token)


def test_production_without_a_key_does_not_start() -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier.from_settings(production_settings())


def test_dev_tokens_are_not_issued_in_production(capsys: pytest.CaptureFixture[str]) -> None:
    settings = production_settings()
    assert token_main(["e-1"], settings=settings) == 2
    assert "refused" in capsys.readouterr().err
    with pytest.raises(ConfigurationError):
        issue_dev_token(settings, "e-1")


def test_the_token_command_says_why_production_settings_are_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERCLE_ENV", "prod")
    for variable in ("JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL", "ADMIN_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    assert token_main(["e-1"]) == 2
    assert capsys.readouterr().err.startswith("refused: refusing to start with CERCLE_ENV=prod")


def test_the_token_command_prints_a_token_the_gateway_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert token_main(["--employee", "e-7", "--role", "admin"], settings=DEV) == 0
    printed = capsys.readouterr().out.strip()
    assert TokenVerifier.from_settings(DEV).verify(printed) == Caller("e-7", frozenset({"admin"}))


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "token"])
def test_an_authorization_header_that_is_not_bearer_is_refused(header: str) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_no_authorization_header_means_anonymous() -> None:
    assert bearer_token(None) is None
