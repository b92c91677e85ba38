"""Relay cursors over the services' one-cursor-per-page pagination."""

from __future__ import annotations

import base64

import pytest

from cercle_common.errors import ValidationError
from gateway.pagination import decode_cursor, encode_cursor, fetch_page
from gateway.ports import Json

RANKS = [{"rank": n} for n in range(1, 251)]


def service(first: int, after: str | None) -> Json:
    """A service that pages by offset and never returns more than 100 entries."""
    start = int(after) if after else 0
    page = RANKS[start : start + min(first, 100)]
    end = start + len(page)
    return {
        "entries": page,
        "page_info": {"has_next_page": end < len(RANKS), "end_cursor": str(end)},
    }


def ranks(page_entries: list[tuple[str, Json]]) -> list[int]:
    return [entry["rank"] for _, entry in page_entries]


def test_following_end_cursors_walks_every_entry_once() -> None:
    seen: list[int] = []
    after = None
    while True:
        page = fetch_page(service, 100, after)
        seen += ranks(page.entries)
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert seen == list(range(1, 251))


def test_an_edge_cursor_resumes_right_after_its_entry() -> None:
    page = fetch_page(service, 10, None)
    fourth = page.entries[3][0]
    assert ranks(fetch_page(service, 3, fourth).entries) == [5, 6, 7]


def test_an_edge_cursor_far_past_the_service_page_size_still_resumes() -> None:
    far = encode_cursor(None, 230)
    page = fetch_page(service, 10, far)
    assert ranks(page.entries) == list(range(231, 241))
    assert page.has_next_page


def test_the_last_page_says_there_is_no_next_page() -> None:
    page = fetch_page(service, 100, encode_cursor("200", 0))
    assert ranks(page.entries) == list(range(201, 251))
    assert page.has_next_page is False


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "bm9wZQ",
        encode_cursor(None, -1),
        "WzEsMl0",
        b64(b"[" * 20_000 + b"]" * 20_000),
        b64(b'["\\ud800", 0]'),
        b64(b"[null, " + b"9" * 5000 + b"]"),
    ],
    ids=["not base64", "not JSON", "negative skip", "not a pair", "nested", "surrogate", "digits"],
)
def test_cursors_the_api_did_not_give_are_refused(cursor: str) -> None:
    with pytest.raises(ValidationError) as refused:
        decode_cursor(cursor)
    assert refused.value.field == "after"


def test_a_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor("opaque:42", 7)) == ("opaque:42", 7)
