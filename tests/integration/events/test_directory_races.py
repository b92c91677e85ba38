"""The request that accepts a directory change and the relay that publishes it both apply
it to the directory; doing so at the same moment must neither fail nor lose the entry."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from services.events.adapters.event_store import EventStore


def change(employee_id: str, version: int) -> dict:
    return {
        "_id": f"{employee_id}:{version}",
        "employee_id": employee_id,
        "version": version,
        "created_at": datetime.now(UTC),
        "record": {"display_name": "Ann Lee", "email": "ann@example.org", "team": f"t{version}"},
    }


def test_the_same_new_entry_applied_twice_at_once_is_stored_once(store: EventStore) -> None:
    employee_ids = [f"race-{uuid.uuid4().hex[:10]}" for _ in range(20)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        applied = [
            pool.submit(store.apply_employee_change, change(employee_id, 1))
            for employee_id in employee_ids
            for _ in range(2)
        ]
        for future in applied:
            future.result()  # raises if a racing insert was refused
    for employee_id in employee_ids:
        entry = store.find_employee(employee_id)
        assert entry is not None
        assert (entry["version"], entry["team"]) == (1, "t1")


def test_an_older_change_applied_late_does_not_overwrite_a_newer_one(store: EventStore) -> None:
    employee_id = f"late-{uuid.uuid4().hex[:10]}"
    store.apply_employee_change(change(employee_id, 2))
    store.apply_employee_change(change(employee_id, 1))
    entry = store.find_employee(employee_id)
    assert entry is not None
    assert (entry["version"], entry["team"]) == (2, "t2")
