"""Badges end to end over HTTP through the running processes (`running_stack`): an event
posted to the events service becomes an award in the badges service, served with its
Open Badges assertion; a deleted share revokes it."""

from __future__ import annotations

import hashlib
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


def new_employee(stack: Any) -> tuple[str, str]:
    employee_id = f"e2e-badges-{uuid.uuid4().hex[:10]}"
    email = f"{employee_id}@example.org"
    response = requests.put(
        f"{stack.events_url}/v1/employees/{employee_id}",
        json={
            "display_name": "Badge E2E",
            "email": email,
            "team": "team-e2e-badges",
            "department": "dept-e2e",
            "site": "site-e2e",
            "country": "FR",
            "locale": "fr-FR",
            "fte": 1.0,
            "visibility": "visible",
            "active": True,
        },
        headers=admin(stack),
        timeout=10,
    )
    assert response.status_code < 300, response.text
    return employee_id, email


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


def awards(stack: Any, employee_id: str) -> dict[str, dict[str, Any]]:
    body = requests.get(f"{stack.badges_url}/v1/employees/{employee_id}/badges", timeout=10)
    assert body.status_code == 200, body.text
    return {award["id"]: award for award in body.json()["awards"]}


def test_first_share_earns_a_verifiable_open_badge(running_stack: Any) -> None:
    employee_id, email = new_employee(running_stack)
    content = f"c-{uuid.uuid4().hex[:8]}"
    event_id = post_event(
        running_stack,
        employee_id,
        "content.shared",
        {"content_id": content, "network": "linkedin", "url": f"https://ex.org/{content}"},
    )
    award_id = f"{employee_id}:first-share:standard"
    award = eventually(lambda: awards(running_stack, employee_id).get(award_id), "the award")
    assert (award["status"], award["evidence"]) == ("awarded", [event_id])

    assertion = requests.get(award["assertion_url"], timeout=10).json()
    recipient = assertion["recipient"]
    expected = hashlib.sha256((email + recipient["salt"]).encode()).hexdigest()
    assert recipient["identity"] == f"sha256${expected}"
    assert assertion["badge"].endswith("/ob/badges/first-share/standard")

    holders = requests.get(
        f"{running_stack.badges_url}/v1/badges/first-share/holders", params={"first": 100}
    ).json()
    assert "holders" in holders and "page_info" in holders


def test_a_deleted_share_revokes_the_badge_it_earned(running_stack: Any) -> None:
    employee_id, _ = new_employee(running_stack)
    content = f"c-{uuid.uuid4().hex[:8]}"
    shared = {"content_id": content, "network": "linkedin", "url": f"https://ex.org/{content}"}
    share_id = post_event(running_stack, employee_id, "content.shared", shared)
    award_id = f"{employee_id}:first-share:standard"
    eventually(lambda: awards(running_stack, employee_id).get(award_id), "the award")

    post_event(running_stack, employee_id, "share.deleted", {"share_event_id": share_id})
    revoked = eventually(
        lambda: (a := awards(running_stack, employee_id)[award_id])["status"] == "revoked" and a,
        "the revocation",
    )
    assert revoked["reason"].startswith("evidence reversed by share.deleted")
    gone = requests.get(revoked["assertion_url"], timeout=10)
    assert (gone.status_code, gone.json()["revoked"]) == (410, True)
