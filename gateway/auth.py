"""Who is calling: JWT bearer tokens checked with pinned algorithms, issuer, audience and
expiry. `sub` is the employee id; `roles` may hold `admin`.

Production (`CERCLE_ENV=prod`) accepts only RS256 tokens, checked against the configured
public key or the identity provider's JWKS. Development accepts HS256 tokens signed with
the development secret (what `make token` prints), and RS256 ones too when a key is set."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from cercle_common.errors import CercleError, Unauthorized
from cercle_common.settings import Settings

ADMIN_ROLE = "admin"
# Clocks of the identity provider and of the gateway drift a little.
LEEWAY_S = 30
DEV_TOKEN_TTL_S = 8 * 3600
# The identity provider's keys are fetched again once they are this old (on the next
# token), and never more often than every JWKS_MIN_INTERVAL_S, whatever the token says.
JWKS_MAX_AGE_S = 300.0
JWKS_MIN_INTERVAL_S = 30.0
JWKS_TIMEOUT_S = 2.0


class ConfigurationError(CercleError):
    """The settings cannot give a safe gateway (e.g. production without a JWT key)."""

    status = 500
    code = "misconfigured"


@dataclass(frozen=True)
class Caller:
    """The authenticated employee behind a request."""

    employee_id: str
    roles: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        """True when the token grants the admin role."""
        return ADMIN_ROLE in self.roles

    def may_see_all_of(self, employee_id: str | None) -> bool:
        """An employee sees all of their own data; an admin sees everyone's."""
        return self.is_admin or (employee_id is not None and employee_id == self.employee_id)


class JwksKeys:
    """The identity provider's signing keys by `kid`, from its JWKS document.

    The document is fetched again when the keys are older than `max_age_s`, or when a token
    names a `kid` they lack (the provider may have rotated its key), but never twice within
    `min_interval_s`, whether the last fetch worked or not: a forged header with a new `kid`
    on every request costs the provider one fetch per interval, not one per request.
    Within the interval an unknown `kid` is refused at once. A failed fetch keeps the keys
    of the last good one: an outage of the provider does not log everybody out."""

    def __init__(
        self,
        fetch: Callable[[], Any],
        clock: Callable[[], float] = time.monotonic,
        max_age_s: float = JWKS_MAX_AGE_S,
        min_interval_s: float = JWKS_MIN_INTERVAL_S,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self.max_age_s = max_age_s
        self.min_interval_s = min_interval_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        # gthread workers verify tokens concurrently: one fetch at a time.
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, timeout_s: float = JWKS_TIMEOUT_S) -> JwksKeys:
        """Keys fetched from `url` by PyJWT's client (http(s) only, no redirects); the
        caching is this class's."""
        client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout_s)
        return cls(client.fetch_data)

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        """The signing key named `kid`, or `Unauthorized` when the provider has none."""
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self.max_age_s
            may_fetch = self._tried_at is None or now - self._tried_at >= self.min_interval_s
            if (stale or kid not in self._keys) and may_fetch:
                self._refresh(now)
            key = self._keys.get(kid) if kid is not None else None
        if key is None:
            raise Unauthorized("no key of the identity provider matches the token")
        return key

    def _refresh(self, now: float) -> None:
        self._tried_at = now
        try:
            keys = jwt.PyJWKSet.from_dict(self._fetch()).keys
        except jwt.PyJWTError:
            return  # unreachable, or no usable key in the answer: keep the last good keys
        self._keys = {
            key.key_id: key for key in keys if key.key_id and key.public_key_use in ("sig", None)
        }
        self._fetched_at = now


class TokenVerifier:
    """Checks bearer tokens against the keys and claims the settings configure."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        hs256_secret: str | None = None,
        rs256_public_key: str | None = None,
        jwks_url: str | None = None,
        jwks: JwksKeys | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.hs256_secret = hs256_secret
        self.rs256_public_key = rs256_public_key
        self.jwks = jwks or (JwksKeys.from_url(jwks_url) if jwks_url else None)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """Production: RS256 only (public key or JWKS), never the development secret."""
        public_key = settings.jwt_public_key.replace("\\n", "\n") or None
        jwks_url = settings.jwt_jwks_url or None
        if settings.is_production and not (public_key or jwks_url):
            raise ConfigurationError("production needs JWT_PUBLIC_KEY or JWT_JWKS_URL")
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            hs256_secret=None if settings.is_production else settings.jwt_secret,
            rs256_public_key=public_key,
            jwks_url=jwks_url,
        )

    def verify(self, token: str) -> Caller:
        """The caller a token names, or `Unauthorized` saying what is wrong with it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthorized("malformed token") from error
        algorithm = header.get("alg")
        key = self._key_for(algorithm, header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                # Pinned to the one algorithm the key is for: never `none`, never HS256
                # with an RSA public key as the secret.
                algorithms=[str(algorithm)],
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized("token expired") from error
        except jwt.InvalidAudienceError as error:
            raise Unauthorized("token not meant for this API (aud)") from error
        except jwt.InvalidIssuerError as error:
            raise Unauthorized("token from an unknown issuer (iss)") from error
        except jwt.MissingRequiredClaimError as error:
            raise Unauthorized(f"token lacks the {error.claim} claim") from error
        except jwt.PyJWTError as error:
            raise Unauthorized("invalid token") from error
        return _caller_of(claims)

    def _key_for(self, algorithm: Any, kid: Any) -> Any:
        if algorithm == "HS256" and self.hs256_secret:
            return self.hs256_secret
        if algorithm == "RS256" and self.rs256_public_key:
            return self.rs256_public_key
        if algorithm == "RS256" and self.jwks is not None:
            return self.jwks.key_for(kid if isinstance(kid, str) else None).key
        raise Unauthorized(f"tokens signed with {algorithm!s} are not accepted")


def issue_dev_token(
    settings: Settings,
    employee_id: str,
    roles: Iterable[str] = (),
    ttl_s: int = DEV_TOKEN_TTL_S,
    now: float | None = None,
) -> str:
    """An HS256 development token. Refused in production mode, where the gateway would
    reject it anyway."""
    if settings.is_production:
        raise ConfigurationError("development tokens are not issued in production mode")
    issued_at = int(time.time() if now is None else now)
    claims = {
        "sub": employee_id,
        "roles": sorted(set(roles)),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": issued_at,
        "exp": issued_at + ttl_s,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (None without a header)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected Authorization: Bearer <token>")
    return token.strip()


def _caller_of(claims: dict[str, Any]) -> Caller:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 128:
        raise Unauthorized("the sub claim must be an employee id")
    if not _is_unicode(subject):
        # A JSON `\ud800` escape decodes to a lone surrogate, which no employee id holds
        # and which fails later, on the way to Redis or a service.
        raise Unauthorized("the sub claim must be an employee id (valid Unicode)")
    roles = claims.get("roles", [])
    if isinstance(roles, str):
        roles = roles.split()
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("the roles claim must be a list of strings")
    return Caller(employee_id=subject, roles=frozenset(roles))


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
