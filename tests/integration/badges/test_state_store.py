"""The versioned state store on the real MongoDB wire server: optimistic concurrency with
`_id` lookups only, including writers whose read went stale long ago."""

from __future__ import annotations

import json

import pytest

from services.badges.domain.model import EmployeeBadges
from services.badges.repository import StateStore


@pytest.fixture
def store(components) -> StateStore:
    return StateStore(components.database)


def changed(state: EmployeeBadges, position: int) -> EmployeeBadges:
    state.event_position = position
    return state


def test_a_new_state_is_written_as_version_one_and_read_back(store, employee_id):
    state, version = store.load(employee_id)
    assert version is None
    assert store.save(changed(state, 7), version)
    loaded, version = store.load(employee_id)
    assert (loaded.event_position, version) == (7, 1)


def test_the_second_of_two_concurrent_writers_gets_a_conflict(store, employee_id):
    store.save(EmployeeBadges(employee_id=employee_id), None)
    first, version = store.load(employee_id)
    second, same_version = store.load(employee_id)
    assert store.save(changed(first, 1), version)
    assert not store.save(changed(second, 2), same_version)
    assert store.load(employee_id)[0].event_position == 1


def test_a_writer_whose_read_went_stale_past_deleted_versions_gets_a_conflict(store, employee_id):
    store.save(EmployeeBadges(employee_id=employee_id), None)
    stale, stale_version = store.load(employee_id)  # version 1
    for position in (1, 2):  # versions 2 and 3; version 2 is deleted when 3 lands
        state, version = store.load(employee_id)
        assert store.save(changed(state, position), version)
    assert not store.save(changed(stale, 99), stale_version)
    state, version = store.load(employee_id)
    assert (state.event_position, version) == (2, 3)


def test_a_version_written_without_its_head_is_found(store, employee_id, components):
    store.save(changed(EmployeeBadges(employee_id=employee_id), 1), None)
    # As if the writer of version 2 died between its insert and moving the head.
    orphan = changed(EmployeeBadges(employee_id=employee_id), 2).to_document()
    components.database["state_versions"].insert_one(
        {
            "_id": f"{employee_id}#2",
            "employee_id": employee_id,
            "version": 2,
            "state_json": json.dumps(orphan),
        }
    )
    state, version = store.load(employee_id)
    assert (state.event_position, version) == (2, 2)


def test_a_cached_state_written_elsewhere_costs_one_conflict_then_reads_fresh(
    components, employee_id
):
    cached = StateStore(components.database, cache_size=10)
    other = StateStore(components.database)
    cached.save(changed(EmployeeBadges(employee_id=employee_id), 1), None)
    state, version = other.load(employee_id)
    assert other.save(changed(state, 5), version)
    mine, my_version = cached.load(employee_id)  # stale, from memory
    assert mine.event_position == 1
    assert not cached.save(changed(mine, 6), my_version)
    fresh, fresh_version = cached.load(employee_id)
    assert (fresh.event_position, fresh_version) == (5, 2)
