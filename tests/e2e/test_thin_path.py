"""The walking skeleton, every hop real: an action posted over HTTP is stored by the events
service, published on Kafka, scored by the points consumer, rewarded with a badge by the
badges consumer, and read back through the GraphQL gateway."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests

from cercle_common.identifiers import new_ulid
from gateway.auth import issue_dev_token

T = TypeVar("T")

LEADERBOARD = """
query Board($teamId: ID!) {
  leaderboard(period: ALL_TIME, first: 10, scope: TEAM, teamId: $teamId) {
    edges { node { rank points employee { id displayName } } }
    pageInfo { hasNextPage }
  }
}"""

BADGES = """
query Badges($id: ID!) { employee(id: $id) { badges { badgeId tier status } } }
"""


def eventually(read: Callable[[], T], holds: Callable[[T], bool], within_s: float = 60) -> T:
    """Read until `holds(value)`, or fail showing the last value read."""
    deadline = time.monotonic() + within_s
    value = read()
    while not holds(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    assert holds(value), f"still not there after {within_s}s: {value!r}"
    return value


def graphql(stack: Any, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(
        stack.graphql_url,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_share_posted_over_http_reaches_the_leaderboard_and_earns_first_share(
    running_stack: Any,
) -> None:
    stack = running_stack
    employee_id = f"e2e-{uuid.uuid4().hex[:10]}"
    team_id = f"team-{uuid.uuid4().hex[:8]}"
    admin = {"Authorization": f"Bearer {stack.settings.admin_token}"}
    profile = {
        "display_name": "Camille Durand",
        "email": f"{employee_id}@example.org",
        "team": team_id,
        "department": "Marketing",
        "site": "lyon",
        "country": "FR",
        "locale": "fr-FR",
        "fte": 1.0,
        "visibility": "visible",
        "pseudonym": None,
        "active": True,
    }
    put = requests.put(
        f"{stack.events_url}/v1/employees/{employee_id}", json=profile, headers=admin, timeout=10
    )
    assert put.status_code in (200, 201), put.text

    event = {
        "id": new_ulid(),
        "type": "content.shared",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "employee_id": employee_id,
        "source": "web",
        "data": {"content_id": "c-77", "network": "linkedin", "url": "https://example.org/a"},
    }
    posted = requests.post(f"{stack.events_url}/v1/events", json=event, timeout=10)
    assert posted.status_code == 201, posted.text
    assert posted.json()["id"] == event["id"]
    # The same event again is the same event: accepted, not recorded twice.
    again = requests.post(f"{stack.events_url}/v1/events", json=event, timeout=10)
    assert again.status_code == 200, again.text

    token = issue_dev_token(stack.settings, employee_id, [], 600)
    board = eventually(
        lambda: graphql(stack, token, LEADERBOARD, {"teamId": team_id}),
        lambda body: bool(body.get("data", {}).get("leaderboard", {}).get("edges")),
    )
    assert board == {
        "data": {
            "leaderboard": {
                "edges": [
                    {
                        "node": {
                            "rank": 1,
                            "points": 10,  # share.professional: +10 on LinkedIn
                            "employee": {"id": employee_id, "displayName": "Camille Durand"},
                        }
                    }
                ],
                "pageInfo": {"hasNextPage": False},
            }
        }
    }

    badges = eventually(
        lambda: graphql(stack, token, BADGES, {"id": employee_id}),
        lambda body: bool(((body.get("data") or {}).get("employee") or {}).get("badges")),
    )
    awarded = {
        (award["badgeId"], award["status"]) for award in badges["data"]["employee"]["badges"]
    }
    assert ("first-share", "awarded") in awarded
    assert ("first-linkedin-share", "awarded") in awarded
