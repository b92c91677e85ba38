"""Page cursors a service gives out and takes back: opaque and authenticated.

A cursor holds the list it belongs to and the position a page ended at, signed with an
HMAC under a key derived from a service secret and the cursor's purpose. A cursor that
was forged, altered, made for another list or by another deployment is a
`ValidationError` naming the field, never a position the code did not hand out (a forged
offset of 10^23 once reached Redis and answered 500). The same position always gives the
same cursor. (Where the position itself must stay secret, as the badges holders' award
ids, the cursor is encrypted instead: `services/badges/cursors.py`.)"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from cercle_common.errors import ValidationError

_SIGNATURE_BYTES = 16


class SignedCursors:
    """Signs `(list, position)` into a cursor and reads it back for that list only."""

    def __init__(self, secret: str, purpose: str) -> None:
        # A key of its own per purpose, derived from the secret (never the secret itself).
        self._key = hashlib.sha256(f"cercle-cursor\0{purpose}\0{secret}".encode()).digest()

    def seal(self, list_id: str, position: Any) -> str:
        """The cursor of `position` (any JSON value) in the list `list_id`."""
        payload = json.dumps([list_id, position], separators=(",", ":")).encode()
        return _text(payload + self._signature(payload))

    def open(self, list_id: str, cursor: str, field: str = "after") -> Any:
        """The position a cursor of `list_id` stands for; `ValidationError` on `field`
        for anything this service did not make for that list."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as error:
            raise ValidationError("is not a cursor of this list", field) from error
        payload, signature = raw[:-_SIGNATURE_BYTES], raw[-_SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._signature(payload)):
            raise ValidationError("is not a cursor of this list", field)
        sealed_for, position = json.loads(payload)
        if sealed_for != list_id:
            raise ValidationError("is not a cursor of this list", field)
        return position

    def open_offset(self, list_id: str, cursor: str | None, field: str = "after") -> int:
        """An offset cursor (0 when there is none)."""
        if not cursor:
            return 0
        offset = self.open(list_id, cursor, field)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValidationError("is not a cursor of this list", field)
        return offset

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
