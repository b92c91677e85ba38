"""What the e2e tests share besides the `running_stack` fixture: polling, where the
processes answer, the tokens and sources they present, and the catalogue items their
events name."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import requests

from cercle_common.settings import Settings
from devstack.services import ServicePorts, service_urls

T = TypeVar("T")

E2E_PORTS = ServicePorts(api_base=18100, health_base=18200)

# Who reports each type of action (the events service's trust table): tests send each
# action as the tool that is its authority would.
SOURCE_OF_TYPE = {
    "content.shared": "gateway",
    "share.deleted": "gateway",
    "charter.acknowledged": "gateway",
    "share.engaged": "social-tracker",
    "course.completed": "lms",
    "survey.answered": "survey-tool",
}


def eventually(check: Callable[[], T | None], what: str, within_s: float = 45.0) -> T:
    """Poll `check` until it returns something truthy, or fail naming `what`."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within_s:.0f}s waiting for {what}")
        time.sleep(0.25)


def service_headers(settings: Settings | None = None) -> dict[str, str]:
    """What the gateway and internal tools present to the services' HTTP APIs."""
    token = (settings or Settings.from_env()).service_token
    return {"Authorization": f"Bearer {token}"}


def admin_headers(settings: Settings | None = None) -> dict[str, str]:
    """What administrators' calls present."""
    token = (settings or Settings.from_env()).admin_token
    return {"Authorization": f"Bearer {token}"}


def put_catalogue_item(collection: str, item_id: str, body: dict[str, Any]) -> None:
    """Create or replace an item of the running events service's catalogue
    (`contents`, `courses`, `surveys`)."""
    response = requests.put(
        f"{service_urls(E2E_PORTS)['EVENTS_URL']}/v1/admin/catalogue/{collection}/{item_id}",
        json=body,
        headers=admin_headers(),
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text


def catalogue_content(content_id: str) -> None:
    """A content employees may share (no time window)."""
    put_catalogue_item(
        "contents", content_id, {"title": f"Content {content_id}", "url": "https://example.org/c"}
    )


def catalogue_what_is_named(event_type: str, data: dict[str, Any]) -> None:
    """Put in the catalogue the item an action names, as an administrator would have."""
    if event_type == "content.shared":
        catalogue_content(data["content_id"])
    elif event_type == "course.completed":
        body = {"title": f"Course {data['course_id']}", "track": data["track"]}
        put_catalogue_item("courses", data["course_id"], body)
    elif event_type == "survey.answered":
        question = {"question_id": data["question_id"], "kind": data["kind"]}
        put_catalogue_item("surveys", data["survey_id"], {"questions": [question]})
