"""The catalogue in the events service's database (collection `catalogue`, `_id` =
`<kind>:<id>`), and the reference checks every accepted event goes through.

Items are few and named by almost every event: each process keeps the whole catalogue in
memory (`cercle_common.cache.RefreshedCopy`), so judging an event against its item costs
no round trip. A change made through this process is in its copy at once; another
process sees it within `2 * CATALOGUE_COPY_MAX_AGE_S`. An item the copy lacks is read
from the database, so an item just created is usable at once everywhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from cercle_common.cache import RefreshedCopy
from cercle_common.envelope import Envelope, format_instant
from cercle_common.errors import NotFound, ValidationError
from cercle_common.mongo import translated_errors
from services.events.domain.catalogue import (
    CONTENT_SHARED,
    REFERENCES,
    SHARE_FOLLOW_UPS,
    ShareOnRecord,
    check_against_item,
    check_item_id,
    check_share_reference,
    item_key,
    parse_item,
)
from services.events.store import EventStore

CATALOGUE_COPY_MAX_AGE_S = 2.0
MAX_PAGE = 500

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class SavedItem:
    """An item as stored, and whether the `PUT` created it."""

    item: dict[str, Any]
    created: bool


class Catalogue:
    """Admin-managed contents, courses and surveys. Withdrawing an item keeps it (flagged
    `active: false`): events already accepted keep naming something, new ones are refused."""

    def __init__(
        self, database: Database, clock: Clock, max_age_s: float = CATALOGUE_COPY_MAX_AGE_S
    ) -> None:
        self.collection = database.catalogue
        self.clock = clock
        self._copy: RefreshedCopy[str, dict[str, Any]] = RefreshedCopy(self._load, max_age_s)

    def _load(self) -> dict[str, dict[str, Any]]:
        with translated_errors():
            return {stored["_id"]: stored for stored in self.collection.find({})}

    def put(self, kind: str, item_id: str, body: dict[str, Any]) -> SavedItem:
        """Create or replace an item (it becomes active)."""
        item = {
            **parse_item(kind, item_id, body),
            "active": True,
            "updated_at": format_instant(self.clock()),
        }
        key = item_key(kind, item["id"])
        with translated_errors():
            try:
                document = {"_id": key, **item}
                result = self.collection.replace_one({"_id": key}, document, upsert=True)
                created = result.upserted_id is not None
            except DuplicateKeyError:
                # Two first PUTs raced to create it; the other one inserted it.
                self.collection.replace_one({"_id": key}, {"_id": key, **item})
                created = False
        self._copy.put(key, {"_id": key, **item})
        return SavedItem(item, created)

    def withdraw(self, kind: str, item_id: str) -> dict[str, Any]:
        """Take an item out of use (`DELETE`); it stays readable, flagged inactive."""
        key = item_key(kind, check_item_id(item_id))
        with translated_errors():
            stored = self.collection.find_one({"_id": key})
            if stored is None:
                raise NotFound(f"no {kind} has this id", "id")
            stored.update(active=False, updated_at=format_instant(self.clock()))
            self.collection.replace_one({"_id": key}, stored)
        self._copy.put(key, stored)
        return _answer(stored)

    def get(self, kind: str, item_id: str) -> dict[str, Any]:
        """One item, withdrawn or not; `NotFound` otherwise."""
        with translated_errors():
            stored = self.collection.find_one({"_id": item_key(kind, check_item_id(item_id))})
        if stored is None:
            raise NotFound(f"no {kind} has this id", "id")
        return _answer(stored)

    def list(self, kind: str, first: int, after: str | None) -> dict[str, Any]:
        """Items of a kind in id order, `first` at a time after the id `after`."""
        query: dict[str, Any] = {"kind": kind}
        if after:
            query["id"] = {"$gt": after}
        with translated_errors():
            found = list(self.collection.find(query).sort("id", 1).limit(first + 1))
        items = [_answer(stored) for stored in found[:first]]
        more = len(found) > first
        return {"items": items, "next_after": items[-1]["id"] if more else None}

    def current(self, kind: str, item_id: str) -> dict[str, Any] | None:
        """The item to judge an event against (from the copy), or None."""
        key = item_key(kind, item_id)
        kept = self._copy.get(key)
        if kept is not None:
            return kept
        with translated_errors():
            stored = self.collection.find_one({"_id": key})
        if stored is not None:
            self._copy.put(key, stored)
        return stored


def _answer(stored: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in stored.items() if name != "_id"}


@dataclass
class BatchMemory:
    """What judging one batch has looked up or let through so far: the shares read or
    accepted earlier in the same batch (a share and what it drew may arrive together)."""

    shares: dict[str, ShareOnRecord] = field(default_factory=dict)


class References:
    """Checks that an event names what exists: a catalogue item (contents, courses,
    surveys) or, for a share's follow-up, an accepted share of the same employee."""

    def __init__(self, catalogue: Catalogue, store: EventStore) -> None:
        self.catalogue = catalogue
        self.store = store

    def check(self, envelope: Envelope, data: dict[str, Any], batch: BatchMemory) -> None:
        """Raises `ValidationError` naming `data.<field>`; remembers a share that passed."""
        if envelope.type in REFERENCES:
            kind, field_name = REFERENCES[envelope.type]
            item = self.catalogue.current(kind, data[field_name])
            check_against_item(envelope.type, data, envelope.occurred_at, item)
            if envelope.type == CONTENT_SHARED:
                batch.shares[envelope.id] = ShareOnRecord(envelope.type, envelope.employee_id)
        elif envelope.type in SHARE_FOLLOW_UPS:
            share_id = data["share_event_id"]
            check_share_reference(envelope.employee_id, self._share(share_id, batch))

    def _share(self, share_id: str, batch: BatchMemory) -> ShareOnRecord | None:
        if share_id in batch.shares:
            return batch.shares[share_id]
        stored = self.store.find_accepted(share_id)
        if stored is None:
            return None
        # Each report of a share's reach names it again: one read per batch.
        batch.shares[share_id] = ShareOnRecord(stored["type"], stored["employee_id"])
        return batch.shares[share_id]


def page_size(raw: str | None) -> int:
    """`first` of a list request: 1 to `MAX_PAGE`, 100 when absent."""
    if raw is None:
        return 100
    try:
        value = int(raw)
    except ValueError as error:
        raise ValidationError("must be an integer", "first") from error
    if not 1 <= value <= MAX_PAGE:
        raise ValidationError(f"must be 1 to {MAX_PAGE}", "first")
    return value
