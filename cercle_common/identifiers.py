"""Event ids: ULIDs (time-ordered, 26 Crockford base-32 characters)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(at_ms: int | None = None, randomness: bytes | None = None) -> str:
    """A new ULID: 48 bits of milliseconds then 80 random bits."""
    millis = int(time.time() * 1000) if at_ms is None else at_ms
    entropy = os.urandom(10) if randomness is None else randomness
    value = (millis << 80) | int.from_bytes(entropy, "big")
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))
