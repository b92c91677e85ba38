"""The door's copy of the directory: who may act, checked with no round trip.

The directory is bounded (one entry per employee), so each process keeps what the door
needs of every entry (`active`, `erased`) in memory, reloaded in the background. A
change made through this process is seen here at once; one made by another process (an
API worker, the inbound consumer) within `2 * DIRECTORY_COPY_MAX_AGE_S`. An id the copy
does not hold is read from the database, so an employee created a moment ago elsewhere
may act at once; only an unknown id costs that read."""

from __future__ import annotations

from typing import Any

from cercle_common.cache import RefreshedCopy
from services.events.ports import DirectoryStore

DIRECTORY_COPY_MAX_AGE_S = 5.0


def door_view(entry: dict[str, Any]) -> dict[str, Any]:
    """What the door needs of a directory entry."""
    return {"active": bool(entry.get("active", True)), "erased": bool(entry.get("erased"))}


class KnownEmployees:
    """Directory entries as the door judges them (None: not in the directory): the
    `EmployeeCopy` port, over any `DirectoryStore`."""

    def __init__(self, store: DirectoryStore, max_age_s: float = DIRECTORY_COPY_MAX_AGE_S) -> None:
        self.store = store
        self._copy: RefreshedCopy[str, dict[str, Any]] = RefreshedCopy(self._load, max_age_s)

    def _load(self) -> dict[str, dict[str, Any]]:
        return {entry["_id"]: door_view(entry) for entry in self.store.employee_statuses()}

    def get(self, employee_id: str) -> dict[str, Any] | None:
        """The entry's door view; read from the database when the copy lacks it."""
        known = self._copy.get(employee_id)
        if known is not None:
            return known
        entry = self.store.find_employee(employee_id)
        if entry is None:
            return None
        self.remember(employee_id, entry)
        return door_view(entry)

    def remember(self, employee_id: str, entry: dict[str, Any]) -> None:
        """A directory change this process made."""
        self._copy.put(employee_id, door_view(entry))
