"""The state store on the real MongoDB wire server: optimistic concurrency with inserts
and reads that find, between writers whose positions went stale, across restarts,
erasure and the scheduled clean-up."""

from __future__ import annotations

import json

import pytest

from services.badges.adapters.repository import StateStore
from services.badges.adapters.state_documents import state_document
from services.badges.domain.model import EmployeeBadges


@pytest.fixture
def store(components) -> StateStore:
    return StateStore(components.database)


def changed(state: EmployeeBadges, position: int) -> EmployeeBadges:
    state.event_position = position
    return state


def with_outbox(state: EmployeeBadges) -> EmployeeBadges:
    state.outbox = [{"id": "k", "revision": 1, "status": "awarded"}]
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


def test_two_writers_beginning_the_same_state_conflict(components, employee_id):
    consumer = StateStore(components.database, cache_size=10)
    consumer.refresh()  # knows every state: this employee has none
    other = StateStore(components.database)
    assert other.save(changed(EmployeeBadges(employee_id=employee_id), 1), None)
    assert not consumer.save(changed(EmployeeBadges(employee_id=employee_id), 2), None)
    state, version = consumer.load(employee_id)
    assert (state.event_position, version) == (1, 1)


def test_a_writer_whose_read_went_stale_past_deleted_versions_gets_a_conflict(store, employee_id):
    store.save(EmployeeBadges(employee_id=employee_id), None)
    stale, stale_version = store.load(employee_id)  # version 1
    for position in (1, 2):  # versions 2 and 3
        state, version = store.load(employee_id)
        assert store.save(changed(state, position), version)
    store.collect_garbage()  # versions 1 and 2 removed: `#2` could be inserted again
    assert not store.save(changed(stale, 99), stale_version)
    state, version = store.load(employee_id)
    assert (state.event_position, version) == (2, 3)


def test_a_cached_copy_made_stale_by_a_sweep_costs_a_conflict_not_a_lost_write(
    components, employee_id
):
    consumer = StateStore(components.database, cache_size=10)
    consumer.refresh()
    pass_store = StateStore(components.database)
    consumer.save(changed(EmployeeBadges(employee_id=employee_id), 1), None)
    for position in (2, 3):  # the scheduled pass writes twice, then cleans up
        state, version = pass_store.load(employee_id)
        assert pass_store.save(changed(state, position), version)
    assert pass_store.collect_garbage() == 2
    _, my_version = consumer.load(employee_id)
    assert my_version == 3  # the sweep was seen: positions read anew
    state, version = consumer.load(employee_id)
    assert consumer.save(changed(state, 4), version)
    assert StateStore(components.database).load(employee_id)[0].event_position == 4


def test_a_write_over_a_version_removed_by_a_concurrent_sweep_is_refused(components, employee_id):
    consumer = StateStore(components.database, cache_size=10)
    consumer.refresh()
    consumer.save(changed(EmployeeBadges(employee_id=employee_id), 1), None)
    stale, stale_version = consumer.load(employee_id)  # version 1, from memory
    pass_store = StateStore(components.database)
    for position in (2, 3):
        state, version = pass_store.load(employee_id)
        assert pass_store.save(changed(state, position), version)
    pass_store.collect_garbage()
    # The consumer writes over version 1 without reading first: its insert of `#2` lands
    # (the sweep removed it), and only the sweep token tells it that it may not stand.
    assert not consumer.save(changed(stale, 99), stale_version)
    state, version = consumer.load(employee_id)
    assert (state.event_position, version) == (3, 3)
    assert consumer.save(changed(state, 4), version)
    assert StateStore(components.database).load(employee_id)[0].event_position == 4


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


def test_a_state_survives_a_process_restart_with_its_outbox_published(components, employee_id):
    before = StateStore(components.database, cache_size=10)
    before.refresh()
    state = with_outbox(changed(EmployeeBadges(employee_id=employee_id), 3))
    assert before.save(state, None)
    state.outbox = []
    before.mark_published(state, 1)
    after = StateStore(components.database, cache_size=10)  # a new process
    after.refresh()
    loaded, version = after.load(employee_id)
    assert (loaded.event_position, loaded.outbox, version) == (3, [], 2)
    assert list(after.employee_ids(with_outbox_only=True)) == []
    assert employee_id in list(after.employee_ids())


def test_an_outbox_left_unpublished_by_a_crash_is_found_again(components, employee_id):
    StateStore(components.database).save(with_outbox(EmployeeBadges(employee_id=employee_id)), None)
    restarted = StateStore(components.database, cache_size=10)
    assert list(restarted.employee_ids(with_outbox_only=True)) == [employee_id]
    assert restarted.load(employee_id)[0].outbox


def test_erasure_forgets_and_a_late_writer_of_the_erased_state_is_never_read(
    components, employee_id
):
    late = StateStore(components.database)
    late.save(changed(EmployeeBadges(employee_id=employee_id), 1), None)
    stale, version = late.load(employee_id)
    StateStore(components.database, cache_size=10).delete(employee_id)
    assert not late.save(changed(stale, 2), version)
    for name in ("states", "state_versions", "state_bodies"):  # nothing of theirs is left
        assert components.database[name].count_documents({}) == 0
    fresh = StateStore(components.database)
    assert fresh.load(employee_id)[1] is None
    assert list(fresh.employee_ids()) == []
    assert fresh.save(changed(EmployeeBadges(employee_id=employee_id), 9), None)
    assert fresh.load(employee_id)[0].event_position == 9


def test_the_clean_up_keeps_only_what_the_latest_versions_need(components, employee_id):
    store = StateStore(components.database)
    state, version = store.load(employee_id)
    for position in range(1, 5):
        assert store.save(changed(state, position), version)
        state, version = store.load(employee_id)
    assert store.collect_garbage() == 3
    assert store.collect_garbage() == 0
    assert components.database["state_versions"].count_documents({}) == 1
    assert components.database["state_bodies"].count_documents({}) == 1
    assert store.load(employee_id)[0].event_position == 4


def test_a_state_of_the_first_layout_is_read_then_written_on(store, employee_id, components):
    # As the first layout left it: a head behind (its writer died before moving it) and
    # versions holding their state.
    components.database["states"].insert_one(
        {"_id": employee_id, "version": 1, "published_version": 1, "has_outbox": False}
    )
    for position in (1, 2):
        document = state_document(changed(EmployeeBadges(employee_id=employee_id), position))
        components.database["state_versions"].insert_one(
            {
                "_id": f"{employee_id}#{position}",
                "employee_id": employee_id,
                "version": position,
                "state_json": json.dumps(document),
            }
        )
    state, version = store.load(employee_id)
    assert (state.event_position, version) == (2, 2)
    assert store.save(changed(state, 3), version)
    assert store.load(employee_id)[0].event_position == 3
    assert store.collect_garbage() == 2
    assert store.load(employee_id)[0].event_position == 3
