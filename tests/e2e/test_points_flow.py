"""Points end to end over HTTP through the running processes (`running_stack`): events
posted to the events service become ledger entries, totals and leaderboard ranks in the
points service; a deleted share is reversed; hidden employees stay off the boards."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
import requests

from cercle_common.identifiers import new_ulid

pytestmark = pytest.mark.e2e

T = TypeVar("T")
DEADLINE_S = 45.0


def eventually(check: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


def admin(stack: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.admin_token}"}


def new_employee(stack: Any, team: str, visibility: str = "visible") -> str:
    employee_id = f"e2e-points-{uuid.uuid4().hex[:10]}"
    response = requests.put(
        f"{stack.events_url}/v1/employees/{employee_id}",
        json={
            "display_name": "Points E2E",
            "email": f"{employee_id}@example.org",
            "team": team,
            "department": "dept-e2e",
            "site": "site-e2e-points",
            "country": "FR",
            "locale": "fr-FR",
            "fte": 1.0,
            "visibility": visibility,
            "pseudonym": "Heron" if visibility == "pseudonym" else None,
            "active": True,
        },
        headers=admin(stack),
        timeout=10,
    )
    assert response.status_code < 300, response.text
    return employee_id


def post_event(stack: Any, employee_id: str, type_: str, data: dict[str, Any]) -> str:
    event_id = new_ulid()
    response = requests.post(
        f"{stack.events_url}/v1/events",
        json={
            "id": event_id,
            "type": type_,
            "schema_version": 1,
            "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "employee_id": employee_id,
            "source": "e2e",
            "data": data,
        },
        headers=admin(stack),
        timeout=10,
    )
    assert response.status_code < 300, response.text
    return event_id


def points_of(stack: Any, employee_id: str) -> dict[str, Any] | None:
    response = requests.get(f"{stack.points_url}/v1/employees/{employee_id}/points", timeout=10)
    return response.json() if response.status_code == 200 else None


def test_shares_become_points_ranks_and_an_explained_ledger(running_stack: Any) -> None:
    team = f"team-e2e-{uuid.uuid4().hex[:6]}"
    sharer = new_employee(running_stack, team)
    hidden = new_employee(running_stack, team, visibility="hidden")
    share = post_event(
        running_stack,
        sharer,
        "content.shared",
        {"content_id": "c-e2e", "network": "linkedin", "url": "https://example.org/c"},
    )
    post_event(running_stack, hidden, "charter.acknowledged", {"charter_id": "ch", "version": "1"})

    totals = eventually(
        lambda: (p := points_of(running_stack, sharer)) and p["points"]["all"] == 10 and p,
        "the share's points",
    )
    assert totals["points"]["day"] == 10
    eventually(
        lambda: (p := points_of(running_stack, hidden)) and p["points"]["all"] == 15,
        "the charter's points",
    )

    board = requests.get(
        f"{running_stack.points_url}/v1/leaderboards/employees",
        params={"period": "all", "scope": "team", "team_id": team},
        timeout=10,
    ).json()
    assert [(e["rank"], e["employee_id"], e["points"]) for e in board["entries"]] == [
        (1, sharer, 10)
    ]
    around = requests.get(
        f"{running_stack.points_url}/v1/leaderboards/employees/around/{hidden}",
        params={"period": "all", "scope": "team"},
        timeout=10,
    ).json()
    assert around["rank"] == 1 and around["points"] == 15

    ledger = requests.get(
        f"{running_stack.points_url}/v1/employees/{sharer}/ledger", timeout=10
    ).json()
    (entry,) = ledger["entries"]
    assert entry["event_id"] == share and entry["points"] == 10
    assert entry["explanation"].startswith("shared on LinkedIn: +10")

    post_event(running_stack, sharer, "share.deleted", {"share_event_id": share})
    eventually(
        lambda: (p := points_of(running_stack, sharer)) and p["points"]["all"] == 0,
        "the reversal",
    )


def test_bad_leaderboard_query_names_the_field(running_stack: Any) -> None:
    response = requests.get(
        f"{running_stack.points_url}/v1/leaderboards/employees", params={"first": 500}, timeout=10
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "first"
