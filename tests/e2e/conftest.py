"""End-to-end tests run the very processes of `make run` (the `devstack` table: APIs
under gunicorn, consumers as their own processes) against the test stack that
`make test` started, on ports of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cercle_common.settings import Settings
from devstack.config import INSTANCE_MARKER_VARIABLE, load_config
from devstack.processes import ProcessGroup
from devstack.services import ServicePorts, service_env, service_table, service_urls, start_services

E2E_PORTS = ServicePorts(api_base=18100, health_base=18200)


@dataclass(frozen=True)
class RunningStack:
    """Where the running processes answer, and the settings they run with."""

    events_url: str
    points_url: str
    badges_url: str
    graphql_url: str
    settings: Settings
    group: ProcessGroup


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
