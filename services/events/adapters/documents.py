"""mongoengine documents of the events service. The directory is a plain document per
employee; the high-volume collections (acceptance records, outbox, event store) are
written in bulk through pymongo in `event_store.py`, where an insert-only layout is what
keeps FerretDB fast."""

from __future__ import annotations

from typing import Any

import mongoengine

# The store registers its database under this alias (see event_store.py).
ALIAS = "cercle_events"


class Employee(mongoengine.Document):
    """One directory entry, at the version of the last change applied. Erasure keeps the
    entry (flagged `erased`, personal fields emptied) so that a late change cannot
    resurrect the person."""

    meta = {"collection": "employees", "db_alias": ALIAS}

    id = mongoengine.StringField(primary_key=True)
    display_name = mongoengine.StringField(null=True)
    email = mongoengine.StringField(null=True)
    team = mongoengine.StringField(null=True)
    department = mongoengine.StringField(null=True)
    site = mongoengine.StringField(null=True)
    country = mongoengine.StringField(null=True)
    locale = mongoengine.StringField(null=True)
    fte = mongoengine.FloatField(default=1.0)
    visibility = mongoengine.StringField(
        choices=("visible", "pseudonym", "hidden"), default="visible"
    )
    pseudonym = mongoengine.StringField(null=True)
    active = mongoengine.BooleanField(default=True)
    erased = mongoengine.BooleanField(default=False)
    version = mongoengine.IntField(required=True, min_value=1)
    updated_at = mongoengine.DateTimeField(null=True)

    def as_entry(self) -> dict[str, Any]:
        """The stored fields as a plain dict, `_id` included (what the store returns)."""
        entry: dict[str, Any] = {"_id": self.id}
        for name in self._fields:
            if name != "id":
                entry[name] = getattr(self, name)
        return entry
