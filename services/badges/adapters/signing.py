"""Signs Open Badges 3.0 credentials as VC-JWT (RS256).

The RSA key is made once and kept in the service's own database, so every worker and
replica signs with the same key and verifiers find it at `/ob/v3/jwks`."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from services.badges.adapters.repository import KeyStore

KEY_ID = "ob3-signing-key"
ALGORITHM = "RS256"


class CredentialSigner:
    """Signs claims with the service's key and publishes the public half as a JWKS."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._cached: dict[str, Any] | None = None

    def sign(self, claims: dict[str, Any]) -> str:
        """The compact JWS of `claims`, with the key id in the header."""
        key = self._key()
        return jwt.encode(
            claims,
            key["private_pem"],
            algorithm=ALGORITHM,
            # The issuer's public key travels in the header too (Open Badges 3.0, 8.2).
            headers={"kid": key["kid"], "typ": "JWT", "jwk": key["public_jwk"]},
        )

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set verifiers use."""
        key = self._key()
        return {"keys": [key["public_jwk"]]}

    def _key(self) -> dict[str, Any]:
        if self._cached is None:
            self._cached = self._keys.get_or_create(KEY_ID, _new_key)
        return self._cached


def _new_key() -> dict[str, Any]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    # RFC 7638 thumbprint: the key id verifiers match against.
    canonical = json.dumps(
        {name: public_jwk[name] for name in ("e", "kty", "n")}, separators=(",", ":")
    )
    kid = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    public_jwk.update(kid=kid, alg=ALGORITHM, use="sig")
    return {"private_pem": pem, "public_jwk": public_jwk, "kid": kid}
