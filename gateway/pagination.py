"""Relay-style pages over the services' cursor pagination.

The services give one cursor per page (after its last entry). Relay wants one per edge,
so the gateway's cursor is (the service cursor the page started after, how many entries
to skip from there), encoded opaquely. `pageInfo.endCursor` carries the service's own
cursor with nothing to skip, so paging forward costs one call per page."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cercle_common.envelope import check_json_value
from cercle_common.errors import MalformedRequest, ValidationError
from gateway.limits import MAX_PAGE_SIZE
from gateway.ports import Json

# Skipping that far means edge cursors were chained page after page: a few more calls
# catch up, but never without bound.
MAX_SKIP = 1000


@dataclass(frozen=True)
class Page:
    """Entries of one page, each with its cursor, and what the service said about the rest."""

    entries: list[tuple[str, Json]]
    has_next_page: bool
    end_cursor: str | None
    answer: Json


def encode_cursor(service_after: str | None, skip: int) -> str:
    """The opaque cursor of a position."""
    raw = json.dumps([service_after, skip], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[str | None, int]:
    """The position an opaque cursor names, or a `ValidationError` on `field`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        service_after, skip = json.loads(raw)
        # Forged ones: JSON nested thousands deep (RecursionError), or a lone surrogate
        # (`\ud800`), which would fail on the way to the service (MalformedRequest).
        check_json_value(service_after)
    except (binascii.Error, ValueError, TypeError, RecursionError, MalformedRequest) as error:
        raise ValidationError("not a cursor this API gave", field) from error
    valid_after = service_after is None or isinstance(service_after, str)
    valid_skip = isinstance(skip, int) and not isinstance(skip, bool) and 0 <= skip <= MAX_SKIP
    if not (valid_after and valid_skip):
        raise ValidationError("not a cursor this API gave", field)
    return service_after, skip


def check_page_size(first: int, field: str = "first") -> int:
    """`first` if it is between 1 and the page size limit, else a `ValidationError`."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise ValidationError(f"must be between 1 and {MAX_PAGE_SIZE}", field)
    return first


def fetch_page(fetch: Callable[[int, str | None], Json], first: int, after: str | None) -> Page:
    """One page of `first` entries after the cursor `after`, from `fetch(count,
    service_after)`, which answers `{"entries", "page_info": {"has_next_page",
    "end_cursor"}}`."""
    check_page_size(first)
    service_after, skip = decode_cursor(after) if after else (None, 0)
    while True:
        answer = fetch(min(skip + first, MAX_PAGE_SIZE), service_after)
        entries = _entries(answer)
        has_next, end_cursor = _page_info(answer)
        if not entries or skip < len(entries) or not has_next or end_cursor is None:
            break
        # The position is past this whole page: move on with the service's own cursor.
        skip -= len(entries)
        service_after = end_cursor
    kept = entries[skip : skip + first]
    edges = [
        (encode_cursor(service_after, skip + index + 1), entry) for index, entry in enumerate(kept)
    ]
    has_next = has_next or skip + first < len(entries)
    last: str | None
    if end_cursor is not None and skip + len(kept) == len(entries):
        last = encode_cursor(end_cursor, 0)
    else:
        last = edges[-1][0] if edges else after
    return Page(edges, has_next, last, answer)


def _entries(answer: Json) -> list[Json]:
    entries = answer.get("entries")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _page_info(answer: Json) -> tuple[bool, str | None]:
    info: Any = answer.get("page_info")
    if not isinstance(info, dict):
        return False, None
    end_cursor = info.get("end_cursor")
    return bool(info.get("has_next_page")), end_cursor if isinstance(end_cursor, str) else None
