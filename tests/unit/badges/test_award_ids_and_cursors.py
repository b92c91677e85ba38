"""Award ids cannot be guessed (hosted assertions are shared by URL, never enumerable),
and holders cursors are opaque and refused when altered."""

from __future__ import annotations

import base64

import pytest

from cercle_common.errors import ValidationError
from services.badges.domain.model import public_award_id
from services.badges.entrypoints.cursors import HolderCursors


def test_an_award_id_is_128_bits_derived_under_the_secret_and_stable():
    award = public_award_id("secret", "e-1042", "first-share", "standard")
    assert len(award) == 32 and int(award, 16) >= 0
    assert "e-1042" not in award and "first-share" not in award
    assert award == public_award_id("secret", "e-1042", "first-share", "standard")
    assert award != public_award_id("other", "e-1042", "first-share", "standard")
    assert award != public_award_id("secret", "e-1043", "first-share", "standard")


def test_a_cursor_reads_back_and_does_not_show_the_award_id():
    cursors = HolderCursors("secret")
    award = public_award_id("secret", "e-1042", "first-share", "standard")
    cursor = cursors.make("first-share", award)
    assert award not in cursor and "e-1042" not in cursor
    assert award.encode() not in base64.urlsafe_b64decode(cursor.encode())
    assert cursors.read("first-share", cursor) == award


@pytest.mark.parametrize(
    "cursor",
    [
        "e-1042:first-share:standard",
        "not-a-cursor",
        "é",
        "",
    ],
)
def test_a_cursor_this_service_did_not_make_is_refused_naming_after(cursor):
    with pytest.raises(ValidationError) as refused:
        HolderCursors("secret").read("first-share", cursor)
    assert refused.value.field == "after"


def test_an_altered_or_foreign_cursor_is_refused_naming_after():
    cursors = HolderCursors("secret")
    cursor = cursors.make("first-share", "a" * 32)
    tampered = cursor[:-6] + ("A" if cursor[-6] != "A" else "B") + cursor[-5:]
    for bad, badge in [
        (tampered, "first-share"),
        (cursor, "ambassador"),  # made for another badge
        (HolderCursors("other").make("first-share", "a" * 32), "first-share"),
    ]:
        with pytest.raises(ValidationError) as refused:
            cursors.read(badge, bad)
        assert refused.value.field == "after"
