"""The catalogue in the events service's database (collection `catalogue`, `_id` =
`<kind>:<id>`), raw pymongo: the `CatalogueStore` port.

Items are few and named by almost every event: each process keeps the whole catalogue in
memory (`cercle_common.cache.RefreshedCopy`), so judging an event against its item costs
no round trip. A change made through this process is in its copy at once; another
process sees it within `2 * CATALOGUE_COPY_MAX_AGE_S`. An item the copy lacks is read
from the database, so an item just created is usable at once everywhere.

Not a mongoengine Document: items of the three kinds have fields of their own, and their
documents keep explicit nulls (`active_from: null`, a survey's `title: null`) that the
answers show as they are."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from cercle_common.cache import RefreshedCopy
from cercle_common.mongo import translated_errors
from services.events.domain.catalogue import item_key

CATALOGUE_COPY_MAX_AGE_S = 2.0


class MongoCatalogue:
    """The catalogue's items, stored whole and kept in memory for the door."""

    def __init__(self, database: Database, max_age_s: float = CATALOGUE_COPY_MAX_AGE_S) -> None:
        self.collection = database.catalogue
        self._copy: RefreshedCopy[str, dict[str, Any]] = RefreshedCopy(self._load, max_age_s)

    def _load(self) -> dict[str, dict[str, Any]]:
        with translated_errors():
            return {stored["_id"]: stored for stored in self.collection.find({})}

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

    def get(self, kind: str, item_id: str) -> dict[str, Any] | None:
        """The item as stored (without `_id`)."""
        with translated_errors():
            stored = self.collection.find_one({"_id": item_key(kind, item_id)})
        return None if stored is None else _item(stored)

    def save(self, item: dict[str, Any]) -> bool:
        """Create or replace an item; True when this call created it."""
        key = item_key(item["kind"], item["id"])
        document = {"_id": key, **item}
        with translated_errors():
            try:
                result = self.collection.replace_one({"_id": key}, document, upsert=True)
                created = result.upserted_id is not None
            except DuplicateKeyError:
                # Two first PUTs raced to create it; the other one inserted it.
                self.collection.replace_one({"_id": key}, document)
                created = False
        self._copy.put(key, document)
        return created

    def replace(self, item: dict[str, Any]) -> None:
        """Replace an existing item (a withdrawal)."""
        key = item_key(item["kind"], item["id"])
        document = {"_id": key, **item}
        with translated_errors():
            self.collection.replace_one({"_id": key}, document)
        self._copy.put(key, document)

    def page(self, kind: str, limit: int, after: str | None) -> list[dict[str, Any]]:
        """Up to `limit` items of a kind in id order after `after` (the `kind, id` index)."""
        query: dict[str, Any] = {"kind": kind}
        if after:
            query["id"] = {"$gt": after}
        with translated_errors():
            found = list(self.collection.find(query).sort("id", 1).limit(limit))
        return [_item(stored) for stored in found]


def _item(stored: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in stored.items() if name != "_id"}
