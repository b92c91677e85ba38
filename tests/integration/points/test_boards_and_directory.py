"""Leaderboards with the directory: visibility, erasure, team moves, team and site boards
normalised per active member, pagination, and input errors naming the field."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from flask.testing import FlaskClient

from services.points.adapters.store import PointsStore
from tests.integration.points.harness import PointsHarness, wait_until


def _known(harness: PointsHarness, *employees: str) -> None:
    wait_until(
        lambda: (
            harness.processor is not None
            and all(e in harness.processor.directory for e in employees)
        ),
        message="directory snapshots",
    )


def _share(harness: PointsHarness, employee: str, count: int) -> int:
    last = 0
    for n in range(count):
        last = harness.event(
            employee, "content.shared", {"content_id": f"c-{n}", "network": "linkedin"}
        ).sequence
    return last


def _team() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _board(client: FlaskClient, query: str = "") -> dict[str, Any]:
    response = client.get(f"/v1/leaderboards/employees?period=all{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_hidden_employees_never_appear_but_see_their_own_rank(
    harness: PointsHarness, client: FlaskClient
) -> None:
    harness.start()
    team = _team()
    top = harness.employee(team=team)
    hidden = harness.employee(team=team, visibility="hidden")
    low = harness.employee(team=team)
    _known(harness, top, hidden, low)
    harness.wait_applied(top, _share(harness, top, 3))
    harness.wait_applied(hidden, _share(harness, hidden, 2))
    harness.wait_applied(low, _share(harness, low, 1))

    board = _board(client, f"&scope=team&team_id={team}")
    assert [e["employee_id"] for e in board["entries"]] == [top, low]
    assert board["total_count"] == 2
    everyone = _board(client, "&first=100")["entries"]
    assert hidden not in [e["employee_id"] for e in everyone]
    around = client.get(
        f"/v1/leaderboards/employees/around/{hidden}?radius=1&scope=team"
    ).get_json()
    assert (around["rank"], around["points"]) == (2, 20)
    assert [e["employee_id"] for e in around["entries"]] == [top, low]


def test_visibility_change_and_erasure_update_the_boards(
    harness: PointsHarness, client: FlaskClient
) -> None:
    harness.start()
    team = _team()
    employee = harness.employee(team=team, site="paris")
    other = harness.employee(team=team, site="paris")
    _known(harness, employee, other)
    harness.wait_applied(employee, _share(harness, employee, 2))
    harness.wait_applied(other, _share(harness, other, 1))

    harness.employee(employee, team=team, site="paris", visibility="pseudonym", pseudonym="Kite")
    wait_until(
        lambda: (
            harness.processor is not None
            and harness.processor.directory[employee].visibility == "pseudonym"
        ),
        message="the new visibility",
    )
    entries = _board(client, f"&scope=team&team_id={team}")["entries"]
    assert [(e["employee_id"], e["pseudonym"]) for e in entries] == [(None, "Kite"), (other, None)]

    harness.erase(employee)
    wait_until(
        lambda: harness.processor is not None and harness.processor.directory[employee].erased,
        message="the erasure",
    )
    assert [e["employee_id"] for e in _board(client, f"&scope=team&team_id={team}")["entries"]] == [
        other
    ]
    teams = client.get("/v1/leaderboards/teams?period=all&first=100").get_json()
    ours = [e for e in teams["entries"] if e["team_id"] == team]
    assert [(e["points"], e["active_members"]) for e in ours] == [(10, 1)]
    assert client.get(f"/v1/employees/{employee}/points").status_code == 404
    store = PointsStore(harness.processor.store.database)  # type: ignore[union-attr]
    assert store.ledger_of([employee]) == []
    late = harness.event(employee, "charter.acknowledged", {"charter_id": "ch"})
    marker = harness.event(other, "charter.acknowledged", {"charter_id": "ch"})
    harness.wait_applied(other, marker.sequence)
    assert employee not in harness.processor.states  # type: ignore[union-attr]
    assert late.sequence < marker.sequence


def test_moving_team_moves_the_points_and_small_teams_win_per_active_member(
    harness: PointsHarness, client: FlaskClient
) -> None:
    harness.start()
    big_team, small_team = f"big-{_team()}", f"small-{_team()}"
    lyon, nantes = f"lyon-{_team()}", f"nantes-{_team()}"
    big = [harness.employee(team=big_team, site=lyon) for _ in range(4)]
    small = harness.employee(team=small_team, site=nantes)
    _known(harness, *big, small)
    for employee in big:
        harness.wait_applied(employee, _share(harness, employee, 1))
    harness.wait_applied(small, _share(harness, small, 3))

    ours = {big_team: "big", small_team: "small", lyon: "lyon", nantes: "nantes"}

    def board(url: str, key: str, *fields: str) -> list[tuple[Any, ...]]:
        entries = client.get(f"{url}&first=100").get_json()["entries"]
        return [(ours[e[key]], *[e[f] for f in fields]) for e in entries if e[key] in ours]

    assert board(
        "/v1/leaderboards/teams?period=all&normalize=total", "team_id", "points", "score"
    ) == [
        ("big", 40, 40),
        ("small", 30, 30),
    ]
    assert board(
        "/v1/leaderboards/teams?normalize=per_active_member", "team_id", "active_members", "score"
    ) == [("small", 1, 30.0), ("big", 4, 10.0)]

    harness.employee(big[0], team=small_team, site=nantes)
    wait_until(
        lambda: (
            harness.processor is not None and harness.processor.directory[big[0]].team == small_team
        ),
        message="the team move",
    )
    assert board("/v1/leaderboards/teams?period=week", "team_id", "points", "active_members") == [
        ("small", 40, 2),
        ("big", 30, 3),
    ]
    small_board = _board(client, f"&scope=team&team_id={small_team}")
    assert [e["employee_id"] for e in small_board["entries"]] == [small, big[0]]
    assert board("/v1/leaderboards/sites?period=all", "site_id", "points") == [
        ("nantes", 40),
        ("lyon", 30),
    ]


def test_pages_follow_the_cursor_to_the_end(harness: PointsHarness, client: FlaskClient) -> None:
    harness.start()
    team = _team()
    employees = [harness.employee(team=team) for _ in range(5)]
    _known(harness, *employees)
    for count, employee in enumerate(employees, start=1):
        harness.wait_applied(employee, _share(harness, employee, min(count, 3)))
    seen: list[str] = []
    after = ""
    while True:
        page = _board(client, f"&scope=team&team_id={team}&first=2&after={after}")
        seen += [e["employee_id"] for e in page["entries"]]
        if not page["page_info"]["has_next_page"]:
            break
        after = page["page_info"]["end_cursor"]
    # Equal scores: who reached them first ranks first.
    assert seen == [employees[2], employees[3], employees[4], employees[1], employees[0]]
    ledger = client.get(f"/v1/employees/{employees[4]}/ledger?first=2").get_json()
    assert len(ledger["entries"]) == 2 and ledger["page_info"]["has_next_page"]
    rest = client.get(
        f"/v1/employees/{employees[4]}/ledger?first=2&after={ledger['page_info']['end_cursor']}"
    ).get_json()
    assert len(rest["entries"]) == 1 and not rest["page_info"]["has_next_page"]


def test_bad_queries_get_a_422_naming_the_field(client: FlaskClient) -> None:
    cases = {
        "/v1/leaderboards/employees?first=101": "first",
        "/v1/leaderboards/employees?first=zero": "first",
        "/v1/leaderboards/employees?period=decade": "period",
        "/v1/leaderboards/employees?at=yesterday": "at",
        "/v1/leaderboards/employees?scope=planet": "scope",
        "/v1/leaderboards/employees?scope=team": "team_id",
        "/v1/leaderboards/employees?after=nope": "after",
        "/v1/leaderboards/teams?normalize=median": "normalize",
        "/v1/leaderboards/employees/around/e-x?radius=-1": "radius",
        "/v1/employees/e-x/ledger?first=0": "first",
    }
    for url, field in cases.items():
        response = client.get(url)
        assert response.status_code == 422, url
        assert response.get_json()["error"]["field"] == field, url


FORGED_OFFSET = base64.urlsafe_b64encode(b"o:99999999999999999999999").decode().rstrip("=")


def test_forged_and_foreign_cursors_are_a_422_on_after_never_a_500(
    harness: PointsHarness, client: FlaskClient
) -> None:
    harness.start()
    team = _team()
    employees = [harness.employee(team=team) for _ in range(3)]
    _known(harness, *employees)
    for employee in employees:
        harness.wait_applied(employee, _share(harness, employee, 1))
    team_page = _board(client, f"&scope=team&team_id={team}&first=1")
    ledger_page = client.get(f"/v1/employees/{employees[0]}/ledger?first=1").get_json()
    team_cursor = team_page["page_info"]["end_cursor"]
    ledger_cursor = ledger_page["page_info"]["end_cursor"]
    refused = [
        f"/v1/leaderboards/employees?period=all&after={FORGED_OFFSET}",
        f"/v1/leaderboards/teams?period=all&after={FORGED_OFFSET}",
        f"/v1/employees/{employees[0]}/ledger?after={FORGED_OFFSET}",
        f"/v1/leaderboards/employees?period=all&after={team_cursor}",  # another board's
        f"/v1/employees/{employees[1]}/ledger?after={ledger_cursor}",  # another's ledger
        f"/v1/leaderboards/employees?period=all&scope=team&team_id={team}&after={ledger_cursor}",
    ]
    for url in refused:
        response = client.get(url)
        assert response.status_code == 422, (url, response.get_json())
        assert response.get_json()["error"]["field"] == "after", url
    assert _board(client, f"&scope=team&team_id={team}&first=1&after={team_cursor}")["entries"]


def test_unknown_employee_is_a_404_and_health_is_ready(client: FlaskClient) -> None:
    response = client.get("/v1/leaderboards/employees/around/e-nobody")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    ready = client.get("/readyz")
    assert ready.status_code == 200, json.dumps(ready.get_json())
