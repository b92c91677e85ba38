"""Exactly-once effect under duplicates, redelivery and crashes; the rescore rebuilds the
live state exactly; the index is rebuildable from MongoDB."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from cercle_common.errors import InfrastructureError
from cercle_common.mongo import connect
from cercle_common.settings import Settings
from services.points.adapters.board_index import LeaderboardIndex
from services.points.adapters.rules_file import DEFAULT_RULES, load_rules, parse_rules_text
from services.points.adapters.store import PointsStore
from services.points.bootstrap import build_processor
from services.points.domain.model import EmployeeState
from services.points.entrypoints.consumer import build_loop
from services.points.entrypoints.rescore import rebuild_index, rescore
from tests.integration.points.harness import PointsHarness, wait_until


class CrashAfterLedger(Exception):
    """Stands for the process dying between the ledger write and the state write."""


def _store(settings: Settings) -> PointsStore:
    return PointsStore(connect(settings, "points", alias="points-test"))


def _index(settings: Settings) -> LeaderboardIndex:
    return LeaderboardIndex.from_settings(settings)


def _known(harness: PointsHarness, *employees: str) -> None:
    wait_until(
        lambda: (
            harness.processor is not None
            and all(e in harness.processor.directory for e in employees)
        ),
        message="directory snapshots",
    )


def _snapshot(settings: Settings, employees: list[str], team_ids: list[str]) -> dict[str, Any]:
    """Everything the service knows about these employees, in a comparable form."""
    store, index = _store(settings), _index(settings)
    ledger = sorted(store.ledger_of(employees), key=lambda entry: entry["id"])
    states = {e: s.to_dict() for e, s in store.load_states(set(employees)).items()}
    totals = {e: index.all_totals(e) for e in employees}
    # Other tests' events pass through the shared topics: compare only ours.
    board, _ = index.page(index.board_key("all"), 0, 10_000)
    board = [row for row in board if row.member in employees]
    groups = index.group_totals("team", "all")
    teams = {team: (groups.totals.get(team), groups.active.get(team)) for team in team_ids}
    return {"ledger": ledger, "states": states, "totals": totals, "board": board, "teams": teams}


def _history(harness: PointsHarness, employees: list[str]) -> None:
    first, second, third = employees
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    shares = [
        harness.event(first, "content.shared", {"content_id": f"c-{n}", "network": "linkedin"})
        for n in range(4)
    ]
    harness.event(
        first, "share.engaged", {"share_event_id": shares[0].id, "clicks": 9, "reactions": 2}
    )
    harness.event(first, "share.deleted", {"share_event_id": shares[1].id})
    harness.event(second, "course.completed", {"course_id": "k-1", "score": 75})
    harness.event(second, "content.shared", {"content_id": "c-1", "network": "x"}, now)
    harness.event(
        second, "content.shared", {"content_id": "c-2", "network": "x"}, now + timedelta(minutes=1)
    )
    harness.event(third, "survey.answered", {"survey_id": "s-1", "kind": "enps"})
    harness.event(third, "points.adjusted", {"points": 12, "reason": "event host"})


def test_duplicate_events_count_once(harness: PointsHarness, client: FlaskClient) -> None:
    harness.start()
    employee = harness.employee()
    _known(harness, employee)
    shared = harness.event(employee, "content.shared", {"content_id": "c", "network": "xing"})
    for _ in range(3):  # the same event again, as an at-least-once relay may send it
        harness.event(
            employee,
            shared.type,
            shared.data,
            shared.occurred_at,
            event_id=shared.id,
            sequence=shared.sequence,
        )
    last = harness.event(employee, "charter.acknowledged", {"charter_id": "ch"})
    harness.wait_applied(employee, last.sequence)
    points = client.get(f"/v1/employees/{employee}/points").get_json()
    assert points["points"]["all"] == 25
    ledger = client.get(f"/v1/employees/{employee}/ledger").get_json()
    assert [entry["points"] for entry in ledger["entries"]] == [15, 10]


def test_a_batch_retried_after_an_outage_between_ledger_and_state_counts_once(
    harness: PointsHarness, client: FlaskClient
) -> None:
    processor = build_processor(harness.settings)
    real_insert = processor.store.insert_states
    failures = {"left": 2}

    def flaky_insert(states: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise InfrastructureError("MongoDB unavailable (simulated)")
        real_insert(states)

    processor.store.insert_states = flaky_insert  # type: ignore[method-assign]
    harness.start(processor)
    employee = harness.employee()
    _known(harness, employee)
    events = [
        harness.event(employee, "content.shared", {"content_id": f"c-{n}", "network": "linkedin"})
        for n in range(5)
    ]
    harness.wait_applied(employee, events[-1].sequence, timeout=60)
    assert failures["left"] == 0
    points = client.get(f"/v1/employees/{employee}/points").get_json()
    assert points["points"]["all"] == 30  # daily cap 3
    ledger = client.get(f"/v1/employees/{employee}/ledger").get_json()
    assert [entry["points"] for entry in ledger["entries"]] == [0, 0, 10, 10, 10]


def test_a_crash_between_ledger_and_state_then_a_restart_neither_loses_nor_doubles(
    harness: PointsHarness, client: FlaskClient
) -> None:
    crashing = build_processor(harness.settings)
    real_insert = crashing.store.insert_states

    def crash(states: Any) -> None:
        crashing.store.insert_states = real_insert  # type: ignore[method-assign]
        raise CrashAfterLedger()

    harness.start(crashing)
    employee = harness.employee()
    _known(harness, employee)
    crashing.store.insert_states = crash  # type: ignore[method-assign]
    shared = harness.event(employee, "content.shared", {"content_id": "c", "network": "linkedin"})
    course = harness.event(employee, "course.completed", {"course_id": "k", "score": 99})
    assert harness.thread is not None
    harness.thread.join(timeout=30)  # the loop dies with the crash, committing nothing
    assert not harness.thread.is_alive()
    stored = _store(harness.settings).ledger_of([employee])
    assert {entry["id"] for entry in stored} <= {
        f"{shared.id}:share.professional",
        f"{course.id}:course.completed",
    }
    assert isinstance(harness.crashed, CrashAfterLedger)
    harness.start(build_processor(harness.settings, alias="points-consumer-2"))
    harness.wait_applied(employee, course.sequence)
    points = client.get(f"/v1/employees/{employee}/points").get_json()
    assert points["points"]["all"] == 30
    ledger = _store(harness.settings).ledger_of([employee])
    assert sorted(entry["points"] for entry in ledger) == [10, 20]


def test_rescore_under_the_live_rules_reproduces_the_live_state_exactly(
    harness: PointsHarness,
) -> None:
    harness.start()
    team_ids = [f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"]
    employees = [
        harness.employee(team=team_ids[0]),
        harness.employee(team=team_ids[0], visibility="pseudonym", pseudonym="Owl"),
        harness.employee(team=team_ids[1], visibility="hidden"),
    ]
    _known(harness, *employees)
    _history(harness, employees)
    for employee in employees:
        last = max(e.sequence for e in harness.sent if e.employee_id == employee)
        harness.wait_applied(employee, last)
    harness.stop()
    live = _snapshot(harness.settings, employees, team_ids)
    assert live["ledger"] and live["board"]

    report = rescore(
        harness.settings, load_rules(), set(employees), start_offsets=harness.start_offsets
    )
    assert report.employees == 3 and report.skipped == 0
    assert _snapshot(harness.settings, employees, team_ids) == live

    rebuild_index(harness.settings)
    assert _snapshot(harness.settings, employees, team_ids) == live


def test_rescore_under_new_rules_rebuilds_the_whole_state_with_the_new_version(
    harness: PointsHarness,
) -> None:
    harness.start()
    employee = harness.employee()
    _known(harness, employee)
    last = harness.event(employee, "charter.acknowledged", {"charter_id": "ch"})
    harness.wait_applied(employee, last.sequence)
    harness.stop()
    text = DEFAULT_RULES.read_text()
    new_rules = parse_rules_text(
        text.replace("version: 1", "version: 2").replace("points: 15", "points: 40")
    )
    rescore(harness.settings, new_rules, {employee}, start_offsets=harness.start_offsets)
    (entry,) = _store(harness.settings).ledger_of([employee])
    assert (entry["points"], entry["rules_version"]) == (40, 2)
    assert _index(harness.settings).all_totals(employee)["all"][0] == 40


def test_loading_the_states_keeps_only_the_latest_snapshot_of_each_employee(
    settings: Settings,
) -> None:
    store = _store(settings)
    snapshots = []
    for sequence in (5, 9, 7):
        state = EmployeeState("e-compact", last_sequence=sequence)
        state.totals = {"all": [sequence, sequence]}
        snapshots.append(state)
    store.insert_states(snapshots)
    assert store.load_states(compact=True)["e-compact"].total("all") == 9
    assert [doc["last_sequence"] for doc in store.states.find({})] == [9]
    assert store.load_states()["e-compact"].last_sequence == 9


def test_two_consumers_in_one_group_share_the_work_and_survive_a_rebalance(
    harness: PointsHarness, client: FlaskClient
) -> None:
    first = harness.start()
    second = build_processor(harness.settings, alias="points-consumer-b")
    other_loop = build_loop(harness.settings, second, group=harness.group, poll_timeout_ms=200)
    other = threading.Thread(target=other_loop.run, daemon=True)
    other.start()
    try:
        wait_until(
            lambda: (
                first.assignment
                and second.assignment
                and len(first.assignment | second.assignment) == 12
            ),
            timeout=60,
            message="both members to get partitions",
        )
        employees = [harness.employee() for _ in range(12)]
        for employee in employees:
            harness.event(employee, "content.shared", {"content_id": "a", "network": "linkedin"})

        def totals() -> list[int]:
            return [
                client.get(f"/v1/employees/{e}/points").get_json().get("points", {}).get("all", 0)
                for e in employees
            ]

        wait_until(lambda: totals() == [10] * 12, timeout=60, message="every first share")
        assert first.states and second.states  # both members took part

        other_loop.stop()  # the second member leaves: the first takes its partitions
        other.join(timeout=30)
        for employee in employees:
            harness.event(employee, "content.shared", {"content_id": "a", "network": "linkedin"})
            harness.event(employee, "content.shared", {"content_id": "b", "network": "linkedin"})
        wait_until(lambda: totals() == [20] * 12, timeout=90, message="every second share")
        ledger = _store(harness.settings).ledger_of(employees)
        assert sorted(entry["points"] for entry in ledger) == [0] * 12 + [10] * 24
    finally:
        other_loop.stop()
        other.join(timeout=30)
