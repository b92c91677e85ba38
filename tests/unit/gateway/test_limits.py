"""The query-cost estimate: the milliseconds of work an operation may cost, by the measured
weight of each field it resolves, refused before anything runs; and the per-caller limit
of requests in flight."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from graphql import GraphQLObjectType, parse, validate

from cercle_common.settings import Settings
from gateway.app import create_app
from gateway.execution import GraphQLRuntime
from gateway.limits import (
    FIELD_COSTS,
    MAX_COST,
    MUTATION_COST,
    PAGE_ENTRY_COSTS,
    RESOLVED_FIELD_COST,
    SHARED_CALLS,
    InFlightLimiter,
    query_cost_rule,
)
from gateway.ports import Services
from gateway.schema import schema
from tests.unit.gateway.conftest import CountingLimiter

# The weights, as the estimate uses them (re-measured weights need no change here).
R = RESOLVED_FIELD_COST
BOARD = FIELD_COSTS[("Query", "leaderboard")]
BOARD_ENTRY = PAGE_ENTRY_COSTS[("Query", "leaderboard")]
ME = FIELD_COSTS[("Query", "me")]
CATALOGUE = FIELD_COSTS[("Query", "badges")]
POINTS = FIELD_COSTS[("Employee", "points")]
RANK = FIELD_COSTS[("Employee", "rank")]
BADGES = FIELD_COSTS[("Employee", "badges")]
LEDGER = FIELD_COSTS[("Employee", "ledger")]
AROUND = FIELD_COSTS[("LeaderboardConnection", "aroundMe")]

FULL_BOARD = (
    "leaderboard(first: 100) { edges { node { rank"
    " employee { displayName points { allTime } rank badges { badgeId } } } } }"
)
# edges, then per entry: node, rank, employee, displayName, points, allTime, rank, badges,
# badgeId.
FULL_BOARD_COST = (
    BOARD + 100 * BOARD_ENTRY + R + 100 * (R + R + R + R + POINTS + R + RANK + BADGES + R)
)
TWENTY_FULL_BOARDS = "{ " + " ".join(f"b{n}: {FULL_BOARD}" for n in range(20)) + " }"
# Issue 14: allowed when each call counted 1 (903), it took 4.7 s.
THREE_BOARDS_OF_ISSUE_14 = (
    "{ "
    + " ".join(
        f"b{n}: leaderboard(first: 100) {{ edges {{ node {{ employee"
        " { points { allTime } rank badges { badgeId } } } } }"
        for n in range(3)
    )
    + " }"
)


def ms(estimate: float) -> int:
    """An estimate as the limit reports it: rounded up to a whole millisecond."""
    return math.ceil(round(estimate, 6))


def cost_of(query: str) -> int:
    """The estimated cost of `query` (refused by a limit of 0 unless it costs nothing)."""
    errors = validate(schema.graphql_schema, parse(query), [query_cost_rule(0)])
    if not errors:
        return 0
    (error,) = errors
    assert error.extensions is not None
    cost: int = error.extensions["cost"]
    return cost


def refusal(cost: int, limit: int = MAX_COST) -> dict[str, Any]:
    """The answer to an anonymous operation refused for its cost."""
    return {
        "data": None,
        "errors": [
            {
                "message": f"operation 'anonymous' would cost about {cost} ms of work;"
                f" at most {limit} are allowed: ask for smaller pages or fewer fields"
                " per entry",
                "locations": [{"line": 1, "column": 1}],
                "extensions": {
                    "code": "GRAPHQL_VALIDATION_FAILED",
                    "cost": cost,
                    "maxCost": limit,
                },
            }
        ],
    }


def test_the_three_boards_of_issue_14_are_refused_naming_their_cost_and_the_limit(
    client: FlaskClient, services: Any
) -> None:
    response = client.post("/graphql", json={"query": THREE_BOARDS_OF_ISSUE_14})
    # edges, then per entry: node, employee, points, allTime, rank, badges, badgeId.
    board = BOARD + 100 * BOARD_ENTRY + R + 100 * (R + R + POINTS + R + RANK + BADGES + R)
    cost = ms(3 * board)
    assert cost > MAX_COST
    assert response.status_code == 200
    assert response.json == refusal(cost)
    assert services.points.calls == []
    assert services.badges.calls == []


def test_twenty_aliased_full_boards_are_refused_before_any_service_call(
    client: FlaskClient, services: Any
) -> None:
    response = client.post("/graphql", json={"query": TWENTY_FULL_BOARDS})
    assert response.status_code == 200
    assert response.json == refusal(ms(20 * FULL_BOARD_COST))
    assert services.points.calls == []
    assert services.badges.calls == []
    assert services.events.directory_attempts == 0


def test_the_limit_is_the_gateway_max_cost_setting(services: Services) -> None:
    ten = "{ leaderboard { edges { node { employee { points { allTime } } } } } }"
    cost = ms(BOARD + 10 * BOARD_ENTRY + R + 10 * (R + R + POINTS + R))
    settings = Settings.from_env({"env": "dev", "gateway_max_cost": cost}, environ={})
    client = create_app(settings, services=services, rate_limiter=CountingLimiter()).test_client()
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
    eleven_cost = ms(BOARD + 11 * BOARD_ENTRY + R + 11 * (R + R + POINTS + R))
    assert client.post("/graphql", json={"query": eleven}).json == refusal(eleven_cost, cost)


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ __typename }", 0),
        # A list without pages counts as one entry.
        ("{ badges { id name tiers { tier } } }", CATALOGUE + R + R + R + R),
        # A page costs its call and its entries, read or not.
        ("{ leaderboard { totalCount pageInfo { endCursor } } }", BOARD + 10 * BOARD_ENTRY + 3 * R),
        # Names of a page come from one batched directory call: no call per entry.
        (
            "{ leaderboard(first: 100) { edges { node { employee { displayName } } } } }",
            BOARD + 100 * BOARD_ENTRY + R + 100 * (R + R + R),
        ),
        (f"{{ {FULL_BOARD} }}", FULL_BOARD_COST),
        # The default page size is the schema's (10 for boards, 20 for ledgers).
        (
            "{ leaderboard { edges { node { employee { points { day } } } } } }",
            BOARD + 10 * BOARD_ENTRY + R + 10 * (R + R + POINTS + R),
        ),
        ("{ me { ledger { edges { node { id } } } } }", ME + LEDGER + R + 20 * (R + R)),
        # A page size given as a variable counts as the largest allowed.
        (
            "query B($n: Int) { leaderboard(first: $n) { edges { node { employee { rank } } } } }",
            BOARD + 100 * BOARD_ENTRY + R + 100 * (R + R + RANK),
        ),
        (
            "{ leaderboard(first: null) { edges { node { employee { rank } } } } }",
            BOARD + 10 * BOARD_ENTRY + R + 10 * (R + R + RANK),
        ),
        (
            "{ leaderboard(first: 5000) { edges { node { employee { rank } } } } }",
            BOARD + 100 * BOARD_ENTRY + R + 100 * (R + R + RANK),
        ),
        # aroundMe holds 2 * radius + 1 entries.
        (
            "{ leaderboard(first: 1) { aroundMe(radius: 3)"
            " { entries { employee { points { day } } } } } }",
            BOARD + BOARD_ENTRY + AROUND + R + 7 * (R + POINTS + R),
        ),
        # Pages nest: each board entry's ledger is a page of its own.
        (
            "{ leaderboard(first: 10) { edges { node { employee"
            " { ledger(first: 50) { edges { node { id } } } } } } } }",
            BOARD + 10 * BOARD_ENTRY + R + 10 * (R + R + LEDGER + R + 50 * (R + R)),
        ),
        # Fragments cost what their fields cost, wherever they are spread.
        (
            "query { leaderboard(first: 10) { edges { node { ...E } } } me { ...M } }"
            " fragment E on LeaderboardEntry { employee { ...M } }"
            " fragment M on Employee { points { day } rank }",
            BOARD
            + 10 * BOARD_ENTRY
            + R
            + 10 * (R + R + POINTS + R + RANK)
            + ME
            + POINTS
            + R
            + RANK,
        ),
        (
            'mutation { recordShare(input: {contentId: "c", network: X, url: "u"})'
            " { event { id } errors { field } } }",
            MUTATION_COST + 4 * R,
        ),
    ],
)
def test_each_field_costs_its_measured_weight_and_pages_multiply(query: str, cost: float) -> None:
    assert cost_of(query) == ms(cost)


def test_badges_and_badge_progress_side_by_side_pay_their_one_call_once() -> None:
    both = "{ me { badges { badgeId } badgeProgress { badgeId } } }"
    assert cost_of(both) == ms(ME + BADGES + R + R + R)
    apart = '{ me { badges { badgeId } } employee(id: "e-1") { badgeProgress { badgeId } } }'
    assert cost_of(apart) > cost_of(both) + BADGES / 2


def test_fields_read_from_memory_add_up_over_many_entries() -> None:
    narrow = "{ leaderboard(first: 100) { edges { node { rank } } } }"
    wide = (
        "{ leaderboard(first: 100) { edges { cursor node { rank points isMe onlyVisibleToMe"
        " employee { id displayName team site } } } } }"
    )
    assert cost_of(wide) - cost_of(narrow) == pytest.approx(100 * 9 * R, abs=1)


def test_every_weight_names_a_field_of_the_schema() -> None:
    weighed = set(FIELD_COSTS) | set(PAGE_ENTRY_COSTS) | set(SHARED_CALLS)
    unknown = set()
    for type_name, field_name in weighed:
        graphql_type = schema.graphql_schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType) or field_name not in graphql_type.fields:
            unknown.add((type_name, field_name))
    assert unknown == set()


def test_a_caller_may_have_the_limit_in_flight_and_other_callers_are_apart() -> None:
    limiter = InFlightLimiter(2)
    assert [limiter.enter("employee:e-1") for _ in range(3)] == [True, True, False]
    assert limiter.enter("employee:e-2")
    limiter.leave("employee:e-1")
    assert limiter.enter("employee:e-1")
    assert not limiter.enter("employee:e-1")


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
    # A board's entries with their week and rank. Badges are a badges-service call per
    # employee (about 250 ms each on the bench stack): a board shows them for a few at most.
    "query P($first: Int, $after: String) { leaderboard(first: $first, after: $after) {"
    " edges { node { rank points isMe employee { displayName points { week } rank } } }"
    " aroundMe(radius: 10) { entries { rank employee { displayName } } } } }",
    "{ leaderboard(first: 2) { edges { node { rank employee { displayName"
    " badges { badgeId tier } } } } } }",
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
