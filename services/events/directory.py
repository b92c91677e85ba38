"""The employee directory: save and erase employees, each change recorded as a versioned
outbox entry (`<employee>:<version>`) that the relay publishes on `cercle.employees.v1`.

The outbox entry is written first and is the commit: the directory entry is then brought
up to it (by the request, or by the relay if the request died in between). Its `_id`
also serializes concurrent writers of one employee: two cannot take the same version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cercle_common.envelope import format_instant
from cercle_common.errors import InfrastructureError, NotFound
from services.events.domain.directory import (
    PERSONAL_FIELDS,
    EmployeeRecord,
    same_record,
    snapshot,
)
from services.events.ingest import Clock, utc_now
from services.events.known_employees import KnownEmployees
from services.events.store import EventStore

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Saved:
    """Result of a directory write: whether the employee is new, and the entry."""

    created: bool
    employee: dict[str, Any]


class Directory:
    """Directory commands and queries over the event store's database."""

    def __init__(
        self, store: EventStore, clock: Clock = utc_now, known: KnownEmployees | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        # The door's copy in this process, told of every change made here.
        self.known = known

    def save(self, employee_id: str, record: EmployeeRecord) -> Saved:
        """Create or replace an employee's entry; an identical save publishes nothing."""
        for _attempt in range(MAX_ATTEMPTS):
            current = self.store.find_employee(employee_id)
            if current is not None and same_record(current, record):
                return Saved(False, public_entry(current))
            created = current is None or bool(current.get("erased"))
            version = (current or {}).get("version", 0) + 1
            fields = {**record.as_dict(), "erased": False}
            if self._commit(employee_id, version, fields, snapshot(employee_id, fields, version)):
                stored = self.store.find_employee(employee_id) or {}
                self._tell_door(employee_id, stored)
                return Saved(created, public_entry(stored))
        raise InfrastructureError("too many concurrent changes to this employee; retry")

    def erase(self, employee_id: str) -> dict[str, Any]:
        """Right to erasure: drop names, email and pseudonym, mark the entry erased and
        publish a tombstone so the other services drop the person. Idempotent."""
        for _attempt in range(MAX_ATTEMPTS):
            current = self.store.find_employee(employee_id)
            if current is None:
                raise NotFound("unknown employee", "employee_id")
            if current.get("erased"):
                # Again, in case an earlier erasure stopped before its answers were gone.
                self.store.erase_answers_of(employee_id)
                return {"id": employee_id, "erased": True}
            version = current.get("version", 0) + 1
            fields: dict[str, Any] = {name: None for name in PERSONAL_FIELDS}
            fields.update(active=False, erased=True)
            if self._commit(employee_id, version, fields, None):
                self._tell_door(employee_id, fields)
                self.store.erase_answers_of(employee_id)
                return {"id": employee_id, "erased": True}
        raise InfrastructureError("too many concurrent changes to this employee; retry")

    def get(self, employee_id: str) -> dict[str, Any]:
        """One employee's full entry (email included: an internal API)."""
        current = self.store.find_employee(employee_id)
        if current is None or current.get("erased"):
            raise NotFound("unknown employee", "employee_id")
        return public_entry(current)

    def get_many(self, employee_ids: list[str]) -> list[dict[str, Any]]:
        """What the gateway needs to show people; unknown or erased ids are left out.
        One `_id` read each: on the local server an `$in` scans the collection."""
        found = []
        for employee_id in dict.fromkeys(employee_ids):
            current = self.store.find_employee(employee_id)
            if current is not None and not current.get("erased"):
                entry = public_entry(current)
                entry.pop("email")
                entry.pop("version")
                found.append(entry)
        return found

    def _tell_door(self, employee_id: str, entry: dict[str, Any]) -> None:
        if self.known is not None:
            self.known.remember(employee_id, entry)

    def _commit(
        self,
        employee_id: str,
        version: int,
        fields: dict[str, Any],
        message: dict[str, Any] | None,
    ) -> bool:
        change: dict[str, Any] = {
            "_id": change_id(employee_id, version),
            "employee_id": employee_id,
            "version": version,
            "record": fields,
            "snapshot": message,
            "created_at": format_instant(self.clock()),
        }
        if not self.store.insert_employee_change(change):
            # Someone holds this version: finish their change, then try again on top.
            pending = self.store.find_employee_change(change["_id"])
            if pending is not None:
                self.store.apply_employee_change(pending)
            return False
        self.store.apply_employee_change(change)
        return True


def change_id(employee_id: str, version: int) -> str:
    """The outbox `_id` of one version of an employee."""
    return f"{employee_id}:{version:012d}"


def public_entry(document: dict[str, Any]) -> dict[str, Any]:
    """A stored directory entry as the HTTP API answers it."""
    return {
        "id": document["_id"],
        "display_name": document.get("display_name"),
        "email": document.get("email"),
        "pseudonym": document.get("pseudonym"),
        "visibility": document.get("visibility"),
        "team": document.get("team"),
        "department": document.get("department"),
        "site": document.get("site"),
        "country": document.get("country"),
        "locale": document.get("locale"),
        "fte": document.get("fte"),
        "active": document.get("active"),
        "version": document.get("version"),
    }
