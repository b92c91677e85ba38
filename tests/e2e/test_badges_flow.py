"""Badges end to end over HTTP through the running processes (`running_stack`): an event
posted to the events service becomes an award in the badges service, served with its
Open Badges assertion; a deleted share revokes it."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.support import eventually

pytestmark = pytest.mark.e2e


def awards(stack: Any, employee_id: str) -> dict[str, dict[str, Any]]:
    body = requests.get(
        f"{stack.badges_url}/v1/employees/{employee_id}/badges",
        headers=stack.service_headers,
        timeout=10,
    )
    assert body.status_code == 200, body.text
    # Award ids are opaque (an HMAC under the badges secret): found by badge and tier.
    return {f"{award['badge_id']}:{award['tier']}": award for award in body.json()["awards"]}


def test_first_share_earns_a_verifiable_open_badge(running_stack: Any) -> None:
    employee_id = running_stack.add_employee("e2e-badges")
    email = f"{employee_id}@example.org"
    content = f"c-{uuid.uuid4().hex[:8]}"
    event_id = running_stack.post_event(
        employee_id,
        "content.shared",
        {"content_id": content, "network": "linkedin", "url": f"https://ex.org/{content}"},
    )
    award_id = "first-share:standard"
    award = eventually(lambda: awards(running_stack, employee_id).get(award_id), "the award")
    assert (award["status"], award["evidence"]) == ("awarded", [event_id])

    assertion = requests.get(award["assertion_url"], timeout=10).json()
    recipient = assertion["recipient"]
    expected = hashlib.sha256((email + recipient["salt"]).encode()).hexdigest()
    assert recipient["identity"] == f"sha256${expected}"
    assert assertion["badge"].endswith("/ob/badges/first-share/standard")

    holders = requests.get(
        f"{running_stack.badges_url}/v1/badges/first-share/holders",
        params={"first": 100},
        headers=running_stack.service_headers,
        timeout=10,
    ).json()
    assert "holders" in holders and "page_info" in holders


def test_a_deleted_share_revokes_the_badge_it_earned(running_stack: Any) -> None:
    employee_id = running_stack.add_employee("e2e-badges")
    content = f"c-{uuid.uuid4().hex[:8]}"
    shared = {"content_id": content, "network": "linkedin", "url": f"https://ex.org/{content}"}
    share_id = running_stack.post_event(employee_id, "content.shared", shared)
    award_id = "first-share:standard"
    eventually(lambda: awards(running_stack, employee_id).get(award_id), "the award")

    running_stack.post_event(employee_id, "share.deleted", {"share_event_id": share_id})
    revoked = eventually(
        lambda: (a := awards(running_stack, employee_id)[award_id])["status"] == "revoked" and a,
        "the revocation",
    )
    assert revoked["reason"].startswith("evidence reversed by share.deleted")
    gone = requests.get(revoked["assertion_url"], timeout=10)
    assert (gone.status_code, gone.json()["revoked"]) == (410, True)
