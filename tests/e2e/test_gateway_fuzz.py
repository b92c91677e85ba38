"""Schemathesis fuzzes `/graphql` of the running stack from the checked-in SDL: every
query and mutation, with generated arguments and selections. No answer may be a server
error, nor show a stack trace or a service's internal address."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from gateway.auth import issue_dev_token

pytestmark = pytest.mark.e2e

SDL = Path(__file__).parents[2] / "gateway" / "schema.graphql"
schema = schemathesis.pytest.from_fixture("gateway_graphql_schema")


@pytest.fixture
def gateway_graphql_schema() -> Any:
    """The schema as checked in (the contract), not as introspected."""
    return schemathesis.graphql.from_path(SDL)


@pytest.fixture(scope="module")
def http() -> requests.Session:
    return requests.Session()


@pytest.fixture(scope="module")
def fuzz_callers(running_stack: Any) -> itertools.cycle[str]:
    """Employees of the directory to call as, in turn (the gateway refuses a token of
    someone who does not work here), enough that no one reaches the rate limit."""
    return itertools.cycle([running_stack.add_employee("fuzz") for _ in range(8)])


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_generated_operation_gets_a_server_error(
    case: Any, running_stack: Any, http: requests.Session, fuzz_callers: Any
) -> None:
    token = issue_dev_token(running_stack.settings, next(fuzz_callers))
    response = case.call(
        base_url=running_stack.graphql_url,
        session=http,
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )
    assert response.status_code < 500, response.text[:500]
    text = response.text
    # "internal error" is what an unexpected exception in a resolver becomes.
    assert '"INTERNAL"' not in text, text[:500]
    assert "Traceback" not in text
    for internal in (running_stack.events_url, running_stack.points_url, running_stack.badges_url):
        assert internal not in text
