"""Points end to end over HTTP through the running processes (`running_stack`): events
posted to the events service become ledger entries, totals and leaderboard ranks in the
points service; a deleted share is reversed; hidden employees stay off the boards."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.e2e.support import eventually

pytestmark = pytest.mark.e2e


def points_of(stack: Any, employee_id: str) -> dict[str, Any] | None:
    response = requests.get(
        f"{stack.points_url}/v1/employees/{employee_id}/points",
        headers=stack.service_headers,
        timeout=10,
    )
    return response.json() if response.status_code == 200 else None


def test_shares_become_points_ranks_and_an_explained_ledger(running_stack: Any) -> None:
    team = f"team-e2e-{uuid.uuid4().hex[:6]}"
    sharer = running_stack.add_employee("e2e-points", team=team)
    hidden = running_stack.add_employee("e2e-points", team=team, visibility="hidden")
    share = running_stack.post_event(
        sharer,
        "content.shared",
        {"content_id": "c-e2e", "network": "linkedin", "url": "https://example.org/c"},
    )
    running_stack.post_event(hidden, "charter.acknowledged", {"charter_id": "ch", "version": "1"})

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
        headers=running_stack.service_headers,
        timeout=10,
    ).json()
    assert [(e["rank"], e["employee_id"], e["points"]) for e in board["entries"]] == [
        (1, sharer, 10)
    ]
    around = requests.get(
        f"{running_stack.points_url}/v1/leaderboards/employees/around/{hidden}",
        params={"period": "all", "scope": "team"},
        headers=running_stack.service_headers,
        timeout=10,
    ).json()
    assert around["rank"] == 1 and around["points"] == 15

    ledger = requests.get(
        f"{running_stack.points_url}/v1/employees/{sharer}/ledger",
        headers=running_stack.service_headers,
        timeout=10,
    ).json()
    (entry,) = ledger["entries"]
    assert entry["event_id"] == share and entry["points"] == 10
    assert entry["explanation"].startswith("shared on LinkedIn: +10")

    running_stack.post_event(sharer, "share.deleted", {"share_event_id": share})
    eventually(
        lambda: (p := points_of(running_stack, sharer)) and p["points"]["all"] == 0,
        "the reversal",
    )


def test_bad_leaderboard_query_names_the_field(running_stack: Any) -> None:
    response = requests.get(
        f"{running_stack.points_url}/v1/leaderboards/employees",
        params={"first": 500},
        headers=running_stack.service_headers,
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "first"
