"""The query-cost estimate: service calls an operation may make, refused before any runs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from graphql import parse, validate

from cercle_common.settings import Settings
from gateway.app import create_app
from gateway.execution import GraphQLRuntime
from gateway.limits import MAX_COST, query_cost_rule
from gateway.ports import Services
from gateway.schema import schema
from tests.unit.gateway.conftest import CountingLimiter

BOARD = (
    "leaderboard(first: 100) { edges { node { rank"
    " employee { displayName points { allTime } rank badges { badgeId } } } } }"
)
TWENTY_FULL_BOARDS = "{ " + " ".join(f"b{n}: {BOARD}" for n in range(20)) + " }"


def cost_of(query: str) -> int:
    """The estimated cost of `query` (refused by a limit of 0 unless it costs nothing)."""
    errors = validate(schema.graphql_schema, parse(query), [query_cost_rule(0)])
    if not errors:
        return 0
    (error,) = errors
    assert error.extensions is not None
    cost: int = error.extensions["cost"]
    return cost


def test_twenty_aliased_full_boards_are_refused_before_any_service_call(
    client: FlaskClient, services: Any
) -> None:
    response = client.post("/graphql", json={"query": TWENTY_FULL_BOARDS})
    assert response.status_code == 200
    assert response.json == {
        "data": None,
        "errors": [
            {
                "message": "operation 'anonymous' would cost about 6020 service calls;"
                f" at most {MAX_COST} are allowed: ask for smaller pages or fewer fields"
                " per entry",
                "locations": [{"line": 1, "column": 1}],
                "extensions": {
                    "code": "GRAPHQL_VALIDATION_FAILED",
                    "cost": 6020,
                    "maxCost": MAX_COST,
                },
            }
        ],
    }
    assert services.points.calls == []
    assert services.badges.calls == []
    assert services.events.directory_attempts == 0


def test_the_limit_is_the_gateway_max_cost_setting(services: Services) -> None:
    settings = Settings.from_env({"env": "dev", "gateway_max_cost": 11}, environ={})
    client = create_app(settings, services=services, rate_limiter=CountingLimiter()).test_client()
    ten = "{ leaderboard { edges { node { employee { points { allTime } } } } } }"
    assert client.post("/graphql", json={"query": ten}).json == {
        "data": {
            "leaderboard": {
                "edges": [
                    {"node": {"employee": {"points": {"allTime": 120}}}},
                    {"node": {"employee": {"points": None}}},
                    {"node": {"employee": {"points": None}}},
                ]
            }
        }
    }
    eleven = ten.replace("{ leaderboard", "{ leaderboard(first: 11)")
    refused: Any = client.post("/graphql", json={"query": eleven}).json
    assert refused["errors"][0]["extensions"]["cost"] == 12
    assert refused["errors"][0]["extensions"]["maxCost"] == 11


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ __typename }", 0),
        ("{ badges { id name tiers { tier } } }", 1),
        ("{ leaderboard { totalCount pageInfo { endCursor } } }", 1),
        # Names of a page come from one batched directory call: no cost per entry.
        ("{ leaderboard(first: 100) { edges { node { employee { displayName } } } } }", 1),
        (f"{{ {BOARD} }}", 301),
        # The default page size is the schema's (10 for boards, 20 for ledgers).
        ("{ leaderboard { edges { node { employee { points { day } } } } } }", 11),
        ("{ me { ledger { edges { node { id } } } } }", 2),
        # A page size given as a variable counts as the largest allowed.
        (
            "query B($n: Int) { leaderboard(first: $n) { edges { node { employee { rank } } } } }",
            101,
        ),
        ("{ leaderboard(first: null) { edges { node { employee { rank } } } } }", 11),
        ("{ leaderboard(first: 5000) { edges { node { employee { rank } } } } }", 101),
        # aroundMe holds 2 * radius + 1 entries.
        (
            "{ leaderboard(first: 1) { aroundMe(radius: 3)"
            " { entries { employee { points { day } } } } } }",
            1 + 1 + 7,
        ),
        # Pages nest: each board entry's ledger is a page of its own.
        (
            "{ leaderboard(first: 10) { edges { node { employee"
            " { ledger(first: 50) { edges { node { id } } } } } } } }",
            1 + 10,
        ),
        # Fragments cost what their fields cost, wherever they are spread.
        (
            "query { leaderboard(first: 10) { edges { node { ...E } } } me { ...M } }"
            " fragment E on LeaderboardEntry { employee { ...M } }"
            " fragment M on Employee { points { day } rank }",
            1 + 10 * 2 + 1 + 2,
        ),
        (
            'mutation { recordShare(input: {contentId: "c", network: X, url: "u"})'
            " { event { id } errors { field } } }",
            1,
        ),
    ],
)
def test_each_field_that_calls_a_service_costs_one_and_pages_multiply(
    query: str, cost: int
) -> None:
    assert cost_of(query) == cost


APP_QUERIES = [
    "{ leaderboard(period: ALL_TIME, first: 10) { edges { cursor node { rank points"
    " employee { id displayName } } } pageInfo { hasNextPage endCursor } totalCount } }",
    "{ me { id displayName team points { allTime day } rank"
    " ledger(first: 5) { edges { node { eventType ruleId points explanation } } }"
    " badges { badgeId name tier status } badgeProgress { badgeId current } } }",
    "query Around($team: ID!) { leaderboard(scope: TEAM, teamId: $team, first: 1) {"
    " aroundMe(radius: 2) { rank points entries { rank isMe } } } }",
    "{ teamLeaderboard(normalize: PER_ACTIVE_MEMBER, first: 100) {"
    " edges { node { rank teamId points activeMembers score } } } }",
    "query P($first: Int, $after: String) { leaderboard(first: $first, after: $after) {"
    " edges { node { rank points isMe employee { displayName points { week } rank badges"
    " { badgeId tier } } } } aroundMe(radius: 10) { entries { rank employee { displayName } } }"
    " } }",
    "{ " + " ".join(f"b{n}: leaderboard(first: 100) {{ totalCount }}" for n in range(20)) + " }",
]


@pytest.mark.parametrize("query", APP_QUERIES)
def test_the_queries_apps_make_are_within_the_default_limit(query: str) -> None:
    runtime = GraphQLRuntime(schema.graphql_schema, production=True)
    assert runtime.prepare(query).errors == ()


def test_a_fragment_spread_exponentially_is_refused_without_walking_it() -> None:
    # Each fragment spreads the next twice: 2^40 fields once expanded, in a short query.
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(40))
    query = f"query Bomb {{ ...F0 }} {chain} fragment F40 on Query {{ badges {{ id }} }}"
    runtime = GraphQLRuntime(schema.graphql_schema, production=False)
    started = time.perf_counter()
    errors = [e.message for e in runtime.prepare(query).errors]
    assert time.perf_counter() - started < 2.0
    assert "operation 'Bomb' selects more than 300 fields" in errors
