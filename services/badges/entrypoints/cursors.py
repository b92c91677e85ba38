"""Opaque page cursors for the holders list: the position (an award id, which opens that
award's hosted assertion) is encrypted and authenticated, so a cursor neither reveals
whose award it points at nor can be forged or altered; one made for another badge is
refused too."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken

from cercle_common.errors import ValidationError


class HolderCursors:
    """Turns a (badge, award id) position into a cursor and back."""

    def __init__(self, secret: str) -> None:
        # A key of its own, derived from the badges secret (not the secret itself).
        key = hashlib.sha256(b"cercle-badges-holders-cursor\0" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def make(self, badge_id: str, award_id: str) -> str:
        """The cursor of the position just after `award_id` in the badge's holders."""
        payload = json.dumps([badge_id, award_id], separators=(",", ":")).encode()
        return self._fernet.encrypt(payload).decode("ascii")

    def read(self, badge_id: str, cursor: str) -> str:
        """The award id a cursor stands for; `ValidationError` naming `after` for a cursor
        this service did not make for this badge."""
        try:
            badge, award_id = json.loads(self._fernet.decrypt(cursor.encode("ascii")))
        except (InvalidToken, UnicodeEncodeError, ValueError, TypeError) as error:
            raise ValidationError("is not a cursor of this list", "after") from error
        if badge != badge_id or not isinstance(award_id, str):
            raise ValidationError("is not a cursor of this list", "after")
        return award_id
