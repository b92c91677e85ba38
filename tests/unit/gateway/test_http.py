"""`/graphql` over HTTP (Flask test client, fake services): auth, limits, errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from graphql import get_introspection_query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cercle_common.settings import Settings
from gateway.app import create_app
from gateway.execution import GraphQLRuntime
from gateway.limits import MAX_ALIASES, MAX_BODY_BYTES, MAX_FIELDS
from gateway.ports import Services
from gateway.schema import schema, sdl
from tests.unit.gateway.production import production_settings

THIN_PATH = "{ leaderboard(period: ALL_TIME, first: 10) { totalCount } }"


@pytest.fixture
def rsa_token() -> tuple[Settings, str]:
    """Production settings with an RSA public key, and a bearer token it accepts."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = production_settings(jwt_public_key=public.decode())
    claims = {
        "sub": "e-1",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "exp": int(time.time()) + 60,
    }
    return settings, "Bearer " + jwt.encode(claims, key, algorithm="RS256")


def post(client: FlaskClient, query: str, authorization: str | None = None, **body: Any) -> Any:
    headers = {"Authorization": authorization} if authorization else {}
    return client.post("/graphql", json={"query": query, **body}, headers=headers)


def test_anonymous_reads_of_public_data_work_in_development(client: FlaskClient) -> None:
    response = post(client, THIN_PATH)
    assert (response.status_code, response.json) == (
        200,
        {"data": {"leaderboard": {"totalCount": 3}}},
    )


def test_production_refuses_requests_without_a_token(services: Services) -> None:
    settings = production_settings(jwt_jwks_url="http://idp.invalid/jwks")
    client = create_app(settings, services=services, rate_limiter=_Unlimited()).test_client()
    response = post(client, THIN_PATH)
    assert response.status_code == 401
    assert response.json == {
        "errors": [
            {"message": "a bearer token is required", "extensions": {"code": "UNAUTHENTICATED"}}
        ]
    }


def test_an_invalid_token_is_refused_even_in_development(client: FlaskClient) -> None:
    response = post(client, THIN_PATH, authorization="Bearer not.a.token")
    assert response.status_code == 401
    assert response.json["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_token_employee_is_who_me_is(client: FlaskClient, token: Any) -> None:
    response = post(client, "{ me { id displayName } }", authorization=token("e-3"))
    assert response.json == {"data": {"me": {"id": "e-3", "displayName": "Chloé Durand"}}}


def test_the_sixth_request_of_a_caller_in_a_window_gets_429(
    client: FlaskClient, token: Any
) -> None:
    alice, chloe = token("e-1"), token("e-3")
    statuses = [post(client, THIN_PATH, authorization=alice).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    refused = post(client, THIN_PATH, authorization=alice)
    assert refused.headers["Retry-After"] == "42"
    assert refused.json == {
        "errors": [
            {
                "message": "too many requests: at most 5 per minute",
                "extensions": {"code": "RATE_LIMITED"},
            }
        ]
    }
    # Another caller has a budget of their own.
    assert post(client, THIN_PATH, authorization=chloe).status_code == 200


def test_a_body_over_the_limit_gets_413(client: FlaskClient) -> None:
    response = post(client, THIN_PATH, padding="x" * MAX_BODY_BYTES)
    assert response.status_code == 413


def test_a_body_that_is_not_json_gets_400(client: FlaskClient) -> None:
    response = client.post("/graphql", data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


def test_a_batch_body_is_refused_with_400(client: FlaskClient) -> None:
    response = client.post("/graphql", json=[{"query": THIN_PATH}, {"query": THIN_PATH}])
    assert (response.status_code, response.json) == (
        400,
        {
            "errors": [
                {
                    "message": "the body must be one JSON object",
                    "extensions": {"code": "BAD_REQUEST"},
                }
            ]
        },
    )


def test_a_variable_of_the_wrong_type_is_the_callers_error(client: FlaskClient) -> None:
    query = "query Q($n: Int!) { leaderboard(first: $n) { totalCount } }"
    response = post(client, query, variables={"n": "ten"})
    assert response.json == {
        "data": None,
        "errors": [
            {
                "message": "Int cannot represent non-integer value: 'ten'",
                "locations": [{"line": 1, "column": 9}],
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ],
    }


def test_a_mutation_over_get_is_refused(client: FlaskClient, token: Any) -> None:
    response = client.get(
        "/graphql",
        query_string={
            "query": 'mutation { acknowledgeCharter(input: {charterId: "c", version: "1"})'
            " { errors { field } } }"
        },
        headers={"Authorization": token("e-1")},
    )
    assert (response.status_code, response.json["errors"][0]["message"]) == (
        400,
        "mutations are not allowed when using GET",
    )


def test_a_query_deeper_than_the_limit_is_refused() -> None:
    runtime = GraphQLRuntime(schema.graphql_schema, production=False, max_depth=3)
    prepared = runtime.prepare("{ me { ledger { edges { node { id } } } } }")
    assert prepared.document is None
    assert [e.message for e in prepared.errors] == [
        "'anonymous' exceeds maximum operation depth of 3."
    ]


def test_the_deepest_real_query_is_within_the_depth_limit(client: FlaskClient) -> None:
    deepest = "{ leaderboard { edges { node { employee { ledger { edges { node { id } } } } } } } }"
    response = post(client, deepest)
    assert response.json == {
        "data": {
            "leaderboard": {
                "edges": [
                    {"node": {"employee": {"ledger": None}}},
                    {"node": {"employee": {"ledger": None}}},
                    {"node": {"employee": {"ledger": None}}},
                ]
            }
        },
        "errors": response.json["errors"],
    }
    assert {e["extensions"]["code"] for e in response.json["errors"]} == {"UNAUTHENTICATED"}


def test_too_many_aliases_are_refused_before_any_call(client: FlaskClient, services: Any) -> None:
    aliased = " ".join(f"b{n}: badges {{ id }}" for n in range(MAX_ALIASES + 1))
    response = post(client, "{ " + aliased + " }")
    assert response.json == {
        "data": None,
        "errors": [
            {
                "message": f"operation 'anonymous' uses {MAX_ALIASES + 1} aliases;"
                f" at most {MAX_ALIASES} are allowed",
                "locations": [{"line": 1, "column": 1}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ],
    }
    assert services.badges.calls == []


def test_fields_repeated_through_fragments_count_against_the_limit(client: FlaskClient) -> None:
    fields = " ".join("__typename" for _ in range(10))
    spreads = " ".join("...F" for _ in range(MAX_FIELDS // 10 + 1))
    query = f"query Big {{ {spreads} }} fragment F on Query {{ {fields} }}"
    runtime = GraphQLRuntime(schema.graphql_schema, production=False)
    errors = [e.message for e in runtime.prepare(query).errors]
    assert errors == [f"operation 'Big' selects more than {MAX_FIELDS} fields"]
    within = query.replace(spreads, " ".join("...F" for _ in range(MAX_FIELDS // 10)))
    assert runtime.prepare(within).errors == ()


def test_huge_token_counts_are_refused_at_parse(client: FlaskClient) -> None:
    query = "{ " + "__typename " * 4000 + "}"
    response = post(client, query)
    assert "tokens" in response.json["errors"][0]["message"]


def test_fragment_cycles_are_refused_not_recursed(client: FlaskClient) -> None:
    query = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    response = post(client, query)
    assert response.status_code == 200
    assert "Cannot spread fragment 'A' within itself" in response.json["errors"][0]["message"]


def test_introspection_and_graphiql_are_on_in_development(client: FlaskClient) -> None:
    response = post(client, "{ __schema { queryType { name } } }")
    assert response.json == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert b"graphiql" in page.data.lower()


def test_introspection_and_suggestions_are_off_in_production(services: Services) -> None:
    runtime = GraphQLRuntime(schema.graphql_schema, production=True)
    refused = runtime.public_result(runtime.run("{ __schema { queryType { name } } }"))
    assert refused == {
        "data": None,
        "errors": [
            {
                "message": "Cannot query '__schema': introspection is disabled.",
                "locations": [{"line": 1, "column": 3}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ],
    }
    typo = runtime.public_result(runtime.run("{ leaderbord { totalCount } }"))
    assert typo["errors"][0]["message"] == "Cannot query field 'leaderbord' on type 'Query'."


def test_production_lets_typename_through_as_apollo_and_relay_send_it(
    services: Services, rsa_token: Any
) -> None:
    settings, authorization = rsa_token
    client = create_app(settings, services=services, rate_limiter=_Unlimited()).test_client()
    query = "{ __typename leaderboard(period: ALL_TIME, first: 1) { __typename totalCount } }"
    result = post(client, query, authorization).json
    assert "errors" not in result, result
    assert result["data"]["__typename"] == "Query"
    assert result["data"]["leaderboard"]["__typename"] == "LeaderboardConnection"
    for private in ('{ __type(name: "Query") { name } }', "{ __schema { types { name } } }"):
        refused = post(client, private, authorization).json
        assert "introspection is disabled" in refused["errors"][0]["message"]


def test_the_standard_introspection_query_runs_in_development_and_a_deeper_one_is_refused() -> None:
    runtime = GraphQLRuntime(schema.graphql_schema, production=False)
    standard = runtime.public_result(runtime.run(get_introspection_query(descriptions=True)))
    assert "errors" not in standard and standard["data"]["__schema"]["queryType"]
    deep = "{ __schema { types { " + "ofType { " * 20 + "name" + " }" * 20 + " } } }"
    refused = runtime.public_result(runtime.run(deep))
    assert "introspection nested" in refused["errors"][0]["message"]


def test_production_serves_no_graphiql_page(services: Services, rsa_token: Any) -> None:
    settings, authorization = rsa_token
    app = create_app(settings, services=services, rate_limiter=_Unlimited())
    page = app.test_client().get(
        "/graphql", headers={"Accept": "text/html", "Authorization": authorization}
    )
    assert b"graphiql" not in page.data.lower()
    assert page.status_code == 400  # a GET without a query, not an IDE


def test_an_unexpected_failure_says_internal_error_without_trace_or_address(
    client: FlaskClient, services: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("connect to http://10.0.0.7:8102/v1 failed\nTraceback (most recent)")

    services.points.leaderboard = broken
    response = post(client, THIN_PATH)
    assert response.status_code == 200
    assert response.json == {
        "data": {"leaderboard": None},
        "errors": [
            {
                "message": "internal error",
                "locations": [{"line": 1, "column": 3}],
                "path": ["leaderboard"],
                "extensions": {"code": "INTERNAL"},
            }
        ],
    }
    assert "10.0.0.7" in caplog.text  # the operators get the detail in the logs


def test_parse_and_validate_run_once_per_query_text(monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.execution as execution

    parsed: list[str] = []
    real_parse = execution.parse

    def counting_parse(source: str, **options: Any) -> Any:
        parsed.append(source)
        return real_parse(source, **options)

    monkeypatch.setattr(execution, "parse", counting_parse)
    runtime = GraphQLRuntime(schema.graphql_schema, production=False)
    first, second = runtime.prepare(THIN_PATH), runtime.prepare(THIN_PATH)
    assert first is second
    assert parsed == [THIN_PATH]


def test_the_gateway_stays_ready_and_answers_in_part_while_a_service_is_down(
    client: FlaskClient, services: Any
) -> None:
    services.points.down = True
    readiness = client.get("/readyz")
    assert (readiness.status_code, readiness.json) == (200, {"status": "ready", "checked": []})
    response = post(client, "{ badges { id } leaderboard { totalCount } }")
    assert response.json == {
        "data": {"badges": [{"id": "sharer"}], "leaderboard": None},
        "errors": [
            {
                "message": "the points service is unavailable",
                "locations": [{"line": 1, "column": 17}],
                "path": ["leaderboard"],
                "extensions": {"code": "SERVICE_UNAVAILABLE"},
            }
        ],
    }


def test_the_gateway_stays_ready_with_every_service_down(
    client: FlaskClient, services: Any
) -> None:
    services.events.down = services.points.down = services.badges.down = True
    assert client.get("/readyz").status_code == 200


def test_the_checked_in_sdl_matches_the_schema() -> None:
    checked_in = (Path(__file__).parents[3] / "gateway" / "schema.graphql").read_text()
    assert checked_in == sdl(), "stale: run `python -m gateway.schema > gateway/schema.graphql`"


class _Unlimited:
    def hit(self, subject: str) -> Any:
        from gateway.limits import RateDecision

        return RateDecision(True, 1000, 999, 0)


@pytest.fixture
def unlimited(dev_settings: Settings, services: Services) -> FlaskClient:
    """A test client without a rate limit."""
    return create_app(dev_settings, services=services, rate_limiter=_Unlimited()).test_client()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"query": st.text(max_size=80) | JSON},
        optional={"variables": JSON, "operationName": JSON, "extensions": JSON},
    ),
)


@given(body=BODIES)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_no_request_body_gets_a_server_error(unlimited: FlaskClient, body: Any) -> None:
    response = unlimited.post("/graphql", json=body)
    assert response.status_code in (200, 400)
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ leaderboard { totalCount } }", "variables": '
        + b"[" * 20_000
        + b"]" * 20_000
        + b"}",
        b'{"query": "{ leaderboard { totalCount } }", "variables": {"a": "\\ud800"}}',
        b'{"query": "{ leaderboard { totalCount } \xff }"}',
        b'{"query": "{ leaderboard { totalCount } }", "variables": {"a": ' + b"9" * 5000 + b"}}",
    ],
    ids=["nested 20,000 deep", "lone surrogate", "not UTF-8", "a 5,000-digit number"],
)
def test_a_body_that_json_cannot_carry_on_is_a_400_naming_why(
    client: FlaskClient, body: bytes
) -> None:
    response = client.post("/graphql", data=body, content_type="application/json")
    assert response.status_code == 400
    message = response.json["errors"][0]["message"]
    reasons = ("nested deeper", "lone surrogate", "not UTF-8", "more than 4300 digits")
    assert any(reason in message for reason in reasons)


ME = "{ me { displayName } }"


def test_a_token_of_an_employee_who_left_or_was_erased_is_refused_with_401(
    client: FlaskClient, services: Any, token: Any
) -> None:
    services.events.directory["e-3"]["active"] = False  # left the company
    del services.events.directory["e-2"]  # erased: the directory no longer answers for them
    for gone in ("e-3", "e-2", "e-never-hired"):
        response = post(client, ME, token(gone))
        assert response.status_code == 401, gone
        assert response.json["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    still_here = post(client, ME, token("e-1"))
    assert still_here.status_code == 200
    assert still_here.json["data"]["me"]["displayName"] == "Alice Martin"


def test_the_active_check_lets_a_token_through_while_the_directory_is_down(
    client: FlaskClient, services: Any, token: Any
) -> None:
    services.events.down = True
    response = post(client, "{ leaderboard(first: 1) { totalCount } }", token("e-1"))
    assert response.status_code == 200 and response.json["data"]["leaderboard"]["totalCount"]
