"""Page cursors: what a service hands out it takes back; nothing else."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cercle_common.cursors import SignedCursors
from cercle_common.errors import ValidationError

CURSORS = SignedCursors("a secret of the deployment", "test-pages")


def test_a_cursor_given_out_reads_back_as_its_position() -> None:
    cursor = CURSORS.seal("board:week", 40)
    assert CURSORS.open_offset("board:week", cursor) == 40
    assert CURSORS.seal("board:week", 40) == cursor  # the same position, the same cursor


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        forged("o:99999999999999999999999"),  # the old format, with a huge offset
        forged('["board:week",99999999999999999999999]' + "x" * 16),
        CURSORS.seal("board:month", 40),  # another list's
        SignedCursors("another deployment", "test-pages").seal("board:week", 40),
        SignedCursors("a secret of the deployment", "other-pages").seal("board:week", 40),
        CURSORS.seal("board:week", -1),
        CURSORS.seal("board:week", "40"),
        "%%%",
        "",
    ],
)
def test_a_cursor_it_did_not_give_out_for_this_list_is_refused_naming_the_field(
    cursor: str,
) -> None:
    if not cursor:
        assert CURSORS.open_offset("board:week", cursor) == 0  # no cursor: the first page
        return
    with pytest.raises(ValidationError) as refused:
        CURSORS.open_offset("board:week", cursor, "after")
    assert refused.value.field == "after"


def test_a_cursor_altered_by_one_character_is_refused() -> None:
    cursor = CURSORS.seal("board:week", 40)
    for index in range(len(cursor)):
        changed = cursor[:index] + ("A" if cursor[index] != "A" else "B") + cursor[index + 1 :]
        with pytest.raises(ValidationError):
            CURSORS.open_offset("board:week", changed)


@given(st.text(max_size=200))
def test_any_text_is_a_cursor_or_a_validation_error(text: str) -> None:
    try:
        CURSORS.open_offset("board:week", text)
    except ValidationError as error:
        assert error.field == "after"
