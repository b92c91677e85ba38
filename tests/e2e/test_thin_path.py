"""The walking skeleton, every hop real: an action posted over HTTP is stored by the events
service, published on Kafka, scored by the points consumer, rewarded with a badge by the
badges consumer, and read back through the GraphQL gateway."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import requests

from cercle_common.identifiers import new_ulid
from gateway.auth import issue_dev_token
from tests.e2e.support import eventually

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
    team_id = f"team-{uuid.uuid4().hex[:8]}"
    employee_id = stack.add_employee("e2e-thin", team=team_id, display_name="Camille Durand")

    event = {
        "id": new_ulid(),
        "type": "content.shared",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "employee_id": employee_id,
        "source": "gateway",
        "data": {"content_id": "c-77", "network": "linkedin", "url": "https://example.org/a"},
    }
    posted = requests.post(
        f"{stack.events_url}/v1/events", json=event, headers=stack.service_headers, timeout=10
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["id"] == event["id"]
    # The same event again is the same event: accepted, not recorded twice.
    again = requests.post(
        f"{stack.events_url}/v1/events", json=event, headers=stack.service_headers, timeout=10
    )
    assert again.status_code == 200, again.text

    token = issue_dev_token(stack.settings, employee_id, [], 600)
    board = eventually(
        lambda: (
            (body := graphql(stack, token, LEADERBOARD, {"teamId": team_id}))
            and body["data"]["leaderboard"]["edges"]
            and body
        ),
        "the share on the team's leaderboard",
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
        lambda: (
            (body := graphql(stack, token, BADGES, {"id": employee_id}))
            and body["data"]["employee"]["badges"]
            and body
        ),
        "the employee's badges",
    )
    awarded = {
        (award["badgeId"], award["status"]) for award in badges["data"]["employee"]["badges"]
    }
    assert ("first-share", "awarded") in awarded
    assert ("first-linkedin-share", "awarded") in awarded
