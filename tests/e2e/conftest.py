"""End-to-end tests run the very processes of `make run` (the `devstack` table: APIs
under gunicorn, consumers as their own processes) against the test stack that
`make test` started, on ports of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from cercle_common.envelope import format_instant
from cercle_common.identifiers import new_ulid
from cercle_common.settings import Settings
from devstack.config import INSTANCE_MARKER_VARIABLE, load_config
from devstack.processes import ProcessGroup
from devstack.services import service_env, service_table, service_urls, start_services
from tests.e2e.support import (
    E2E_PORTS,
    SOURCE_OF_TYPE,
    catalogue_content,
    catalogue_what_is_named,
    put_catalogue_item,
)

# Fixed catalogue items some tests name (idempotent: created again on every run).
E2E_CONTENTS = ("c-1", "c-77", "c-e2e")
E2E_COURSE = ("k-ai-1", {"title": "AI at work", "track": "ai"})
E2E_SURVEY = ("s-e2e", {"questions": [{"question_id": "nps", "kind": "enps"}]})


@dataclass(frozen=True)
class RunningStack:
    """Where the running processes answer, and the settings they run with."""

    events_url: str
    points_url: str
    badges_url: str
    graphql_url: str
    settings: Settings
    group: ProcessGroup

    @property
    def admin_headers(self) -> dict[str, str]:
        """What service-to-service admin calls carry."""
        return {"Authorization": f"Bearer {self.settings.admin_token}"}

    @property
    def service_headers(self) -> dict[str, str]:
        """What the gateway and internal tools present to the services' APIs."""
        return {"Authorization": f"Bearer {self.settings.service_token}"}

    def headers_of(self, source: str) -> dict[str, str]:
        """What `source` presents on the event door: its own token (the gateway's is the
        service token)."""
        token = self.settings.tool_tokens().get(source, self.settings.service_token)
        return {"Authorization": f"Bearer {token}"}

    def add_employee(self, prefix: str, **fields: Any) -> str:
        """A new employee in the directory (unique id, email `<id>@example.org`)."""
        employee_id = f"{prefix}-{uuid.uuid4().hex[:10]}"
        profile = {
            "display_name": "Camille Durand",
            "email": f"{employee_id}@example.org",
            "team": "team-e2e",
            "department": "dept-e2e",
            "site": "site-e2e",
            "country": "FR",
            "locale": "fr-FR",
            "fte": 1.0,
            "visibility": "visible",
            "active": True,
            **fields,
        }
        response = requests.put(
            f"{self.events_url}/v1/employees/{employee_id}",
            json=profile,
            headers=self.admin_headers,
            timeout=10,
        )
        assert response.status_code in (200, 201), response.text
        return employee_id

    def post_event(self, employee_id: str, type_: str, data: dict[str, Any]) -> str:
        """Record an action happening now through the events API, as the tool trusted with
        it, after putting what it names in the catalogue; returns its id."""
        catalogue_what_is_named(type_, data)
        event_id = new_ulid()
        response = requests.post(
            f"{self.events_url}/v1/events",
            json={
                "id": event_id,
                "type": type_,
                "schema_version": 1,
                "occurred_at": format_instant(datetime.now(UTC)),
                "employee_id": employee_id,
                "source": SOURCE_OF_TYPE[type_],
                "data": data,
            },
            headers=self.headers_of(SOURCE_OF_TYPE[type_]),
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return event_id


@pytest.fixture(scope="session")
def running_stack() -> Iterator[RunningStack]:
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        pytest.fail("the local test stack is not running: use make test")
    config = load_config("test")
    env = {
        **service_env(config, E2E_PORTS),
        "MONGO_DB_PREFIX": "e2e_",
        INSTANCE_MARKER_VARIABLE: str(config.stack_dir),
    }
    group = ProcessGroup(config.logs_dir / "e2e", env=env)
    try:
        start_services(config, group, say=lambda _: None, services=service_table(E2E_PORTS))
        urls = service_urls(E2E_PORTS)
        for content_id in E2E_CONTENTS:
            catalogue_content(content_id)
        put_catalogue_item("courses", *E2E_COURSE)
        put_catalogue_item("surveys", *E2E_SURVEY)
        yield RunningStack(
            events_url=urls["EVENTS_URL"],
            points_url=urls["POINTS_URL"],
            badges_url=urls["BADGES_URL"],
            graphql_url=urls["GRAPHQL_URL"],
            settings=Settings.from_env(environ={**os.environ, **env}),
            group=group,
        )
    finally:
        group.stop()
