"""Integrity through the real broker, Mongo server and Redis: events deduplicated by id
(not by sequence), totals equal to the ledger (the check command), the index rebuilt whole
when lost, hidden employees absent from every group figure, Redis kept across a crash."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from cercle_common.mongo import connect
from cercle_common.settings import Settings
from services.points.adapters.board_index import LeaderboardIndex
from services.points.adapters.rules_file import load_rules
from services.points.adapters.store import PointsStore
from services.points.domain.model import EmployeeState
from services.points.entrypoints.check import check_points
from services.points.entrypoints.rescore import rescore
from tests.integration.points.harness import PointsHarness, wait_until

REPO = Path(__file__).resolve().parents[3]
SHARE = "content.shared"


def _store(settings: Settings) -> PointsStore:
    return PointsStore(connect(settings, "points", alias="points-integrity"))


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


def _team() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _points(client: FlaskClient, employee: str) -> int:
    body = client.get(f"/v1/employees/{employee}/points").get_json()
    return int(body["points"]["all"])


def test_events_sharing_a_sequence_both_score_and_a_repeated_id_scores_once(
    harness: PointsHarness, client: FlaskClient
) -> None:
    harness.start()
    employee = harness.employee()
    _known(harness, employee)
    first = harness.event(employee, SHARE, {"content_id": "a", "network": "linkedin"})
    # A different event given the same sequence (the old non-atomic counter did that).
    harness.event(
        employee,
        SHARE,
        {"content_id": "b", "network": "linkedin"},
        sequence=first.sequence,
    )
    # The first event published again under a new sequence (an accepted id re-sent).
    harness.event(employee, SHARE, first.data, first.occurred_at, event_id=first.id, sequence=None)
    marker = harness.event(employee, "charter.acknowledged", {"charter_id": "ch"})
    harness.wait_applied(employee, marker.sequence)

    assert _points(client, employee) == 10 + 10 + 15
    ledger = _store(harness.settings).ledger_of([employee])
    assert sorted(entry["points"] for entry in ledger) == [10, 10, 15]
    assert sum(entry["points"] for entry in ledger) == _points(client, employee)
    harness.stop()
    report = check_points(
        _store(harness.settings), _index(harness.settings), harness.settings.org_timezone
    )
    assert (report.employees, report.mismatches) == (1, [])

    # The replay from the topic drops the repeated id too, and so equals the live state.
    live = _store(harness.settings).load_states({employee})[employee].totals
    replayed = rescore(
        harness.settings, load_rules(), {employee}, start_offsets=harness.start_offsets
    )
    assert replayed.duplicates == 1
    assert _store(harness.settings).load_states({employee})[employee].totals == live


def test_the_check_command_passes_on_a_clean_run_and_reports_each_corruption(
    harness: PointsHarness,
) -> None:
    harness.start()
    team = _team()
    employees = [harness.employee(team=team, site=team) for _ in range(2)]
    hidden = harness.employee(team=team, site=team, visibility="hidden")
    _known(harness, *employees, hidden)
    for employee in [*employees, hidden]:
        last = harness.event(employee, SHARE, {"content_id": "a", "network": "linkedin"})
        harness.wait_applied(employee, last.sequence)
    harness.stop()
    environment = {
        **os.environ,
        "MONGO_DB_PREFIX": harness.settings.mongo_db_prefix,
        "REDIS_URL": harness.settings.redis_url,
    }

    def run_check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.points.entrypoints.check"],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    clean = run_check()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "employees checked: 3" in clean.stdout and "mismatches: 0" in clean.stdout

    store, index = _store(harness.settings), _index(harness.settings)
    store.ledger.insert_one(
        {
            **store.ledger.find_one({"employee_id": employees[0]}),
            "_id": "forged:entry",
            "points": 7,
        }
    )
    index.client.zadd(index.board_key("all"), {employees[1]: 0})
    state = store.load_states({hidden})[hidden]
    forged = EmployeeState.from_dict({**state.to_dict(), "applied": state.applied + 1})
    forged.totals["all"] = [99, forged.totals["all"][1]]
    store.insert_states([forged])

    broken = run_check()
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"{employees[0]}: state total vs ledger sum [all]: expected 17, found 10" in (
        broken.stdout
    )
    assert f"{employees[1]}: global board score [all]" in broken.stdout
    assert f"{hidden}: state total vs ledger sum [all]: expected 10, found 99" in broken.stdout
    assert f"{hidden}: index totals [all]" in broken.stdout


def _answers(client: FlaskClient, team: str, employees: list[str]) -> dict[str, Any]:
    """Everything the board readers show about these employees and their team."""

    def get(url: str) -> Any:
        response = client.get(url)
        assert response.status_code == 200, (url, response.get_json())
        return response.get_json()

    ours = set(employees)
    board = get("/v1/leaderboards/employees?period=all&first=100")["entries"]
    teams = get("/v1/leaderboards/teams?period=all&first=100&normalize=per_active_member")
    return {
        "global": [e for e in board if e["employee_id"] in ours or e["pseudonym"] == "Heron"],
        "team": get(f"/v1/leaderboards/employees?period=all&scope=team&team_id={team}"),
        "site": get(f"/v1/leaderboards/employees?period=week&scope=site&site_id={team}"),
        "teams": [e for e in teams["entries"] if e["team_id"] == team],
        "sites": [
            e
            for e in get("/v1/leaderboards/sites?period=all&first=100")["entries"]
            if e["site_id"] == team
        ],
        "around": [
            get(f"/v1/leaderboards/employees/around/{e}?scope=team&radius=3") for e in employees
        ],
        "points": [get(f"/v1/employees/{e}/points") for e in employees],
    }


@pytest.fixture
def index_watch(harness: PointsHarness) -> Iterator[threading.Event]:
    """Stops the index watch a test starts."""
    stop = threading.Event()
    yield stop
    stop.set()


def test_a_lost_index_is_rebuilt_whole_by_the_consumer_while_idle(
    harness: PointsHarness, client: FlaskClient, index_watch: threading.Event
) -> None:
    processor = harness.start()
    team = _team()
    visible = harness.employee(team=team, site=team)
    pseudonymous = harness.employee(team=team, site=team, visibility="pseudonym", pseudonym="Heron")
    hidden = harness.employee(team=team, site=team, visibility="hidden")
    inactive = harness.employee(team=team, site=team, active=False)
    employees = [visible, pseudonymous, hidden, inactive]
    _known(harness, *employees)
    for count, employee in enumerate(employees, start=1):
        for n in range(count):
            last = harness.event(employee, SHARE, {"content_id": f"c-{n}", "network": "xing"})
        harness.wait_applied(employee, last.sequence)
    before = _answers(client, team, employees)
    assert [e["points"] for e in before["team"]["entries"]] == [30, 20, 10]

    index = _index(harness.settings)
    processor.watch_index(index_watch, interval=0.3)
    index.clear()  # this test's whole index, as FLUSHALL would (others share this Redis)
    wait_until(index.is_built, timeout=30, message="the index rebuilt")
    assert _answers(client, team, employees) == before

    # A Redis that restarted may miss its last second of writes: rebuilt as well.
    index.client.hset(f"{index.prefix}built", "run_id", "an-earlier-run")
    index.client.zadd(index.board_key("all"), {visible: 0})
    wait_until(index.is_built, timeout=30, message="the index rebuilt after a restart")
    assert _answers(client, team, employees) == before


def test_a_hidden_members_points_count_in_no_team_or_site_figure(
    harness: PointsHarness, client: FlaskClient
) -> None:
    harness.start()
    team = _team()
    visible = harness.employee(team=team, site=team)
    hidden = harness.employee(team=team, site=team, visibility="hidden")
    _known(harness, visible, hidden)
    harness.wait_applied(
        visible, harness.event(visible, SHARE, {"content_id": "a", "network": "xing"}).sequence
    )
    for n in range(2):
        last = harness.event(hidden, SHARE, {"content_id": f"h{n}", "network": "xing"})
    harness.wait_applied(hidden, last.sequence)

    def figures() -> list[tuple[int, int, float]]:
        rows = []
        for group in ("teams", "sites"):
            body = client.get(
                f"/v1/leaderboards/{group}?period=all&first=100&normalize=per_active_member"
            ).get_json()
            rows += [
                (e["points"], e["active_members"], e["score"])
                for e in body["entries"]
                if e.get("team_id", e.get("site_id")) == team
            ]
        return rows

    # The team total minus the team board gives nothing away: both are the visible 10.
    assert figures() == [(10, 1, 10.0), (10, 1, 10.0)]
    board = client.get(f"/v1/leaderboards/employees?scope=team&team_id={team}").get_json()
    assert sum(e["points"] for e in board["entries"]) == 10 and board["total_count"] == 1

    harness.employee(hidden, team=team, site=team, visibility="visible")
    wait_until(lambda: figures() == [(30, 2, 15.0)] * 2, message="the member listed again")
    harness.employee(visible, team=team, site=team, visibility="hidden")
    wait_until(lambda: figures() == [(20, 1, 20.0)] * 2, message="the other member hidden")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_stack_redis_keeps_its_data_across_a_crash(tmp_path: Path) -> None:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (the local stack needs it)")
    port = _free_port()
    command = [server, str(REPO / "stack/redis/redis.conf"), "--port", str(port)]
    command += ["--dir", str(tmp_path)]

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port, socket_connect_timeout=1)
        try:
            wait_until(lambda: _answers_ping(client), timeout=15, message="redis to start")
        finally:
            client.close()
        return process

    process = start()
    try:
        client = redis.Redis(port=port)
        client.set("kept", "yes")
        client.close()
        time.sleep(1.5)  # appendfsync everysec
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process = start()
        client = redis.Redis(port=port)
        assert client.get("kept") == b"yes"
        client.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def _answers_ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False
