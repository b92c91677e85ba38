"""MongoDB adapters of the badges service (database `cercle_badges`).

Collections, each written and read by a deterministic `_id` (the only lookup FerretDB
pushes down), so that no write reads a whole collection:
- `state_versions` + `states`: the `EmployeeBadges` aggregate of each employee, with its
  processing positions and its outbox, written whole as a new version (see StateStore);
- `awards`: `<employee>:<badge>:<tier>`, a projection of the awards for the holders list,
  written from the outbox, never going back to an older revision;
- `recipients`: the hashed Open Badges recipient of each assertion, fixed at first issue;
- `directory`: the copy of `cercle.employees.v1` the service needs (team, visibility);
- `challenges`: one result per challenge, inserted once when its winners are fixed;
- `keys`: the Open Badges 3.0 signing key, created once."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from cercle_common.errors import InfrastructureError
from cercle_common.mongo import translated_errors
from services.badges.domain.model import EmployeeBadges


class StateStore:
    """The employees' badge states, with optimistic concurrency that needs nothing but
    `_id` lookups (the only ones FerretDB pushes down; a `{_id, version}` filter would read
    the whole collection on every write).

    Each write inserts a new version `<employee>#<version>` into `state_versions`: the
    insert of an existing `_id` is refused, which is the conflict check. `states` holds one
    small head per employee (latest version, hints for the scheduled pass), moved forward
    with `$max`. A reader starts at the head and probes the next versions, so a head left
    behind by a crash is harmless. Once the head has moved, the previous version is
    deleted; a writer that read long ago could then insert that deleted version again, so
    after inserting, a writer checks that the head is not already past it (else it takes
    its insert back and reports a conflict).

    The aggregate is stored as one JSON string: nothing queries inside it, and the
    MongoDB-compatible server writes a string about twice as fast as nested documents.
    With `cache_size`, the states this process wrote last are kept in memory (the
    consumer's case: it is almost always the only writer of its employees); a stale entry
    only costs a conflict, then a fresh read."""

    MAX_READS = 5

    def __init__(self, database: Database, cache_size: int = 0) -> None:
        self._versions = database["state_versions"]
        self._heads = database["states"]
        self._cache: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._cache_size = cache_size

    @staticmethod
    def _key(employee_id: str, version: int) -> str:
        return f"{employee_id}#{version}"

    def load(self, employee_id: str) -> tuple[EmployeeBadges, int | None]:
        """The latest state and its version (None when the employee has none yet)."""
        cached = self._cache.get(employee_id)
        if cached is not None:
            self._cache.move_to_end(employee_id)
            return _state(cached[0]), cached[1]
        with translated_errors():
            for _ in range(self.MAX_READS):
                head = self._heads.find_one(
                    {"_id": employee_id}, {"version": 1, "published_version": 1}
                )
                version = int(head["version"]) if head else 0
                published = int(head.get("published_version", 0)) if head else 0
                body = (
                    self._versions.find_one({"_id": self._key(employee_id, version)})
                    if version
                    else None
                )
                while True:
                    newer = self._versions.find_one({"_id": self._key(employee_id, version + 1)})
                    if newer is None:
                        break
                    body, version = newer, version + 1
                if body is not None:
                    state = _state(body["state_json"])
                    if published >= version:
                        state.outbox = []  # Published; cleared for good by the next write.
                    return state, version
                if version == 0:
                    return EmployeeBadges(employee_id=employee_id), None
                # The head's version was deleted under us by a newer write: read again.
        raise InfrastructureError(f"state of {employee_id!r} kept moving while being read")

    def save(self, state: EmployeeBadges, version: int | None) -> bool:
        """Write the state as the version after `version`; False if another writer wrote
        that version first (the caller reloads and applies its change again)."""
        employee_id = state.employee_id
        new_version = (version or 0) + 1
        new_key = self._key(employee_id, new_version)
        text = json.dumps(state.to_document(), separators=(",", ":"))
        with translated_errors():
            try:
                self._versions.insert_one(
                    {
                        "_id": new_key,
                        "employee_id": employee_id,
                        "version": new_version,
                        "state_json": text,
                    }
                )
            except DuplicateKeyError:
                self._cache.pop(employee_id, None)
                return False
            head = self._heads.find_one({"_id": employee_id}, {"version": 1})
            if head is not None and int(head["version"]) > new_version:
                # This version had been written and superseded: our read was stale.
                self._versions.delete_one({"_id": new_key})
                self._cache.pop(employee_id, None)
                return False
            self._heads.update_one(
                {"_id": employee_id},
                {
                    "$max": {"version": new_version},
                    # Hints for the scheduled pass, which always re-reads the state itself.
                    "$set": {
                        "has_outbox": bool(state.outbox),
                        "matched_badges": sorted(
                            badge_id for badge_id, matches in state.matches.items() if matches
                        ),
                    },
                },
                upsert=True,
            )
            if version:
                self._versions.delete_one({"_id": self._key(employee_id, version)})
        if self._cache_size:
            self._cache[employee_id] = (text, new_version)
            self._cache.move_to_end(employee_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return True

    def mark_published(self, state: EmployeeBadges, version: int) -> None:
        """Record that the outbox of `version` is published: one small write to the head
        instead of a new version. The next version written carries the cleared outbox."""
        with translated_errors():
            self._heads.update_one(
                {"_id": state.employee_id},
                {"$max": {"published_version": version}},
                upsert=True,
            )
        cached = self._cache.get(state.employee_id)
        if cached is not None and cached[1] == version:
            text = json.dumps(state.to_document(), separators=(",", ":"))
            self._cache[state.employee_id] = (text, version)

    def delete(self, employee_id: str) -> None:
        """Forget an erased employee (every version)."""
        self._cache.pop(employee_id, None)
        with translated_errors():
            self._heads.delete_one({"_id": employee_id})
            self._versions.delete_many({"employee_id": employee_id})

    def employee_ids(self, with_outbox_only: bool = False) -> Iterator[str]:
        """Every employee with a state (a scan of the small heads: scheduled pass only)."""
        query: dict[str, Any] = {"has_outbox": True} if with_outbox_only else {}
        with translated_errors():
            ids = [head["_id"] for head in self._heads.find(query, {"_id": 1})]
        yield from ids

    def with_matches(self, badge_id: str) -> Iterator[EmployeeBadges]:
        """The states holding matching events for a badge (a challenge being decided)."""
        with translated_errors():
            ids = [head["_id"] for head in self._heads.find({"matched_badges": badge_id})]
        for employee_id in ids:
            state, _ = self.load(employee_id)
            if state.matches.get(badge_id):
                yield state


def _state(text: str) -> EmployeeBadges:
    return EmployeeBadges.from_document(json.loads(text))


class AwardStore:
    """The awards projection served by the APIs."""

    def __init__(self, database: Database) -> None:
        self._awards = database["awards"]
        self._recipients = RecipientStore(database)

    def ensure_indexes(self) -> None:
        """Indexes for a real MongoDB (FerretDB accepts and mostly ignores them)."""
        with translated_errors():
            self._awards.create_index([("badge_id", ASCENDING), ("status", ASCENDING)])
            self._awards.create_index([("employee_id", ASCENDING)])

    def project(self, message: Mapping[str, Any], revision: int, at: datetime) -> None:
        """Upsert the award from its outbox message, unless a newer revision is stored."""
        fields = {
            "employee_id": message["employee_id"],
            "badge_id": message["badge_id"],
            "tier": message["tier"],
            "status": message["status"],
            "evidence": list(message["evidence"]),
            "reason": message["reason"],
            "revision": revision,
        }
        if message["status"] == "awarded":
            fields.update(awarded_at=at, revoked_at=None)
        else:
            fields["revoked_at"] = at
        with translated_errors():
            stored = self._awards.find_one({"_id": message["id"]}, {"revision": 1})
            if stored is not None and stored.get("revision", 0) >= revision:
                return
            self._awards.replace_one({"_id": message["id"]}, fields, upsert=True)

    def get(self, award_id: str) -> dict[str, Any] | None:
        """One award projection, or None."""
        with translated_errors():
            return self._awards.find_one({"_id": award_id})

    def holders(self, badge_id: str, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Standing awards of a badge, by award id, after the cursor `after`."""
        query: dict[str, Any] = {"badge_id": badge_id, "status": "awarded"}
        if after:
            query["_id"] = {"$gt": after}
        with translated_errors():
            return list(self._awards.find(query).sort("_id", ASCENDING).limit(limit))

    def delete_employee(self, employee_id: str) -> None:
        """Forget an erased employee's awards and their hashed recipients."""
        with translated_errors():
            self._awards.delete_many({"employee_id": employee_id})
        self._recipients.delete_employee(employee_id)


class RecipientStore:
    """The hashed recipient of each Open Badges assertion, fixed when first issued (the
    first writer's hash stands), so that a later change of email or salt never breaks an
    assertion already handed out."""

    def __init__(self, database: Database) -> None:
        self._recipients = database["recipients"]

    def get(self, award_id: str) -> dict[str, Any] | None:
        """The stored recipient (`identity`, `salt`), or None."""
        with translated_errors():
            return self._recipients.find_one({"_id": award_id})

    def fix(self, award_id: str, employee_id: str, identity: str, salt: str) -> dict[str, Any]:
        """Store the recipient unless already there; returns the one that stands."""
        document = {"_id": award_id, "employee_id": employee_id, "identity": identity, "salt": salt}
        with translated_errors():
            try:
                self._recipients.insert_one(document)
            except DuplicateKeyError:
                stored = self._recipients.find_one({"_id": award_id})
                assert stored is not None
                return stored
        return document

    def delete_employee(self, employee_id: str) -> None:
        """Forget an erased employee's hashed recipients."""
        with translated_errors():
            self._recipients.delete_many({"employee_id": employee_id})


class Directory:
    """The badges service's copy of the directory (`cercle.employees.v1`)."""

    def __init__(self, database: Database) -> None:
        self._entries = database["directory"]

    def apply_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Keep the snapshot unless a newer version is stored (snapshots may be replayed)."""
        employee_id = snapshot["employee_id"]
        version = int(snapshot.get("version") or 0)
        fields = {
            "team": snapshot.get("team"),
            "visibility": snapshot.get("visibility") or "visible",
            "pseudonym": snapshot.get("pseudonym"),
            "active": bool(snapshot.get("active", True)),
            "version": version,
        }
        with translated_errors():
            stored = self._entries.find_one({"_id": employee_id}, {"version": 1})
            if stored is not None and stored.get("version", 0) > version:
                return  # A newer snapshot is already stored.
            self._entries.replace_one({"_id": employee_id}, fields, upsert=True)

    def delete(self, employee_id: str) -> None:
        """Forget an erased employee."""
        with translated_errors():
            self._entries.delete_one({"_id": employee_id})

    def entries(self, employee_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Directory entries by employee id (missing ids are absent)."""
        found: dict[str, dict[str, Any]] = {}
        with translated_errors():
            for employee_id in employee_ids:
                body = self._entries.find_one({"_id": employee_id})
                if body is not None:
                    found[employee_id] = body
        return found


class ChallengeResults:
    """Fixed challenge results: inserted once; the first writer's winners stand."""

    def __init__(self, database: Database) -> None:
        self._results = database["challenges"]

    def get(self, badge_id: str) -> dict[str, Any] | None:
        """The stored result, or None while the challenge is not decided."""
        with translated_errors():
            return self._results.find_one({"_id": badge_id})

    def fix(
        self, badge_id: str, winners: list[dict[str, Any]], fixed_at: datetime
    ) -> dict[str, Any]:
        """Store the winners unless already fixed; returns the result that stands."""
        document = {"_id": badge_id, "winners": winners, "fixed_at": fixed_at, "applied": False}
        with translated_errors():
            try:
                self._results.insert_one(document)
            except DuplicateKeyError:
                stored = self._results.find_one({"_id": badge_id})
                assert stored is not None
                return stored
        return document

    def mark_applied(self, badge_id: str) -> None:
        """Every winner's award is written and announced."""
        with translated_errors():
            self._results.update_one({"_id": badge_id}, {"$set": {"applied": True}})


class KeyStore:
    """Signing keys, created once and shared by every process of the service."""

    def __init__(self, database: Database) -> None:
        self._keys = database["keys"]

    def get_or_create(self, key_id: str, create: Any) -> dict[str, Any]:
        """The key stored under `key_id`; `create()` makes one if none is (first wins)."""
        with translated_errors():
            stored = self._keys.find_one({"_id": key_id})
            if stored is not None:
                return stored
            document = {"_id": key_id, **create()}
            try:
                self._keys.insert_one(document)
            except DuplicateKeyError:
                stored = self._keys.find_one({"_id": key_id})
                assert stored is not None
                return stored
            return document
