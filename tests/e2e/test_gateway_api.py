"""The GraphQL API end to end, with a real GraphQL client (`gql`) against the running
stack (`running_stack`, CERCLE_ENV=dev): every query and mutation, the authorization
rules and the limits. Employees, teams and sites are unique to this run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import requests
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport

from cercle_common.envelope import format_instant
from gateway.auth import issue_dev_token
from tests.e2e.support import catalogue_content

pytestmark = pytest.mark.e2e

T = TypeVar("T")
DEADLINE_S = 45.0


@dataclass
class Api:
    """A GraphQL client acting as one caller (or anonymously)."""

    url: str
    authorization: str | None = None

    def client(self) -> Client:
        headers = {"Authorization": self.authorization} if self.authorization else {}
        transport = RequestsHTTPTransport(url=self.url, headers=headers, timeout=10, retries=0)
        return Client(transport=transport, fetch_schema_from_transport=False)

    def run(self, query: str, **variables: Any) -> dict[str, Any]:
        """The data of a query that must succeed."""
        with self.client() as session:
            result: dict[str, Any] = session.execute(
                GraphQLRequest(query, variable_values=variables or None)
            )
        return result

    def attempt(self, query: str, **variables: Any) -> tuple[Any, list[dict[str, Any]]]:
        """(data, errors) of a query that may fail."""
        try:
            return self.run(query, **variables), []
        except TransportQueryError as error:
            return error.data, list(error.errors or [])


@dataclass
class Org:
    """The people of this run, created through the gateway."""

    alice: str
    bruno: str
    hidden: str
    team: str
    site: str
    url: str
    settings: Any

    def api(self, employee_id: str | None = None, *roles: str) -> Api:
        if employee_id is None:
            return Api(self.url)
        token = issue_dev_token(self.settings, employee_id, roles)
        return Api(self.url, f"Bearer {token}")

    def admin(self) -> Api:
        return self.api(f"admin-{uuid.uuid4().hex[:8]}", "admin")


def eventually(check: Callable[[], T | None], what: str, deadline_s: float = DEADLINE_S) -> T:
    """Poll `check` until it returns something, or fail after `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


UPSERT = """mutation Upsert($input: UpsertEmployeeInput!) {
  upsertEmployee(input: $input) { employee { id displayName } errors { field code message } } }"""

SHARE = """mutation Share($input: RecordShareInput!) {
  recordShare(input: $input) {
    event { id type employeeId sequence data } errors { field code message } } }"""


@pytest.fixture(scope="module")
def org(running_stack: Any) -> Org:
    run_id = uuid.uuid4().hex[:8]
    org = Org(
        alice=f"e2e-{run_id}-alice",
        bruno=f"e2e-{run_id}-bruno",
        hidden=f"e2e-{run_id}-hidden",
        team=f"team-{run_id}",
        site=f"site-{run_id}",
        url=running_stack.graphql_url,
        settings=running_stack.settings,
    )
    admin = org.admin()
    people = [
        (org.alice, "Alice E2E", "visible", None),
        (org.bruno, "Bruno E2E", "pseudonym", f"Fox-{run_id}"),
        (org.hidden, "Hidden E2E", "hidden", None),
    ]
    for employee_id, name, visibility, pseudonym in people:
        data = admin.run(
            UPSERT,
            input={
                "id": employee_id,
                "displayName": name,
                "email": f"{employee_id}@example.org",
                "team": org.team,
                "department": "dept-e2e",
                "site": org.site,
                "country": "FR",
                "locale": "fr-FR",
                "fte": 1.0,
                "visibility": visibility.upper(),
                "pseudonym": pseudonym,
                "active": True,
            },
        )
        assert data["upsertEmployee"]["errors"] == []
    return org


def share(api: Api, content_id: str, network: str = "LINKEDIN") -> dict[str, Any]:
    catalogue_content(content_id)  # only catalogued contents earn
    data = api.run(
        SHARE,
        input={"contentId": content_id, "network": network, "url": f"https://ex.org/{content_id}"},
    )
    payload: dict[str, Any] = data["recordShare"]
    return payload


def my_points(api: Api) -> int:
    data = api.run("{ me { points { allTime } } }")
    points = data["me"]["points"]
    return int(points["allTime"] or 0) if points else 0


@pytest.fixture(scope="module")
def scored(org: Org) -> Org:
    """Alice and Bruno have shared, and their points are on the board."""
    alice, bruno = org.api(org.alice), org.api(org.bruno)
    for n in range(2):
        assert share(alice, f"c-{uuid.uuid4().hex[:8]}-{n}")["errors"] == []
    assert share(bruno, f"c-{uuid.uuid4().hex[:8]}")["errors"] == []
    eventually(lambda: my_points(alice) > 0 or None, "Alice's points")
    eventually(lambda: my_points(bruno) > 0 or None, "Bruno's points")
    return org


def test_the_thin_path_leaderboard_answers_anonymously_in_development(org: Org) -> None:
    data = org.api().run(
        """{ leaderboard(period: ALL_TIME, first: 10) {
            edges { cursor node { rank points employee { id displayName } } }
            pageInfo { hasNextPage endCursor } totalCount } }"""
    )
    board = data["leaderboard"]
    assert set(board) == {"edges", "pageInfo", "totalCount"}
    assert len(board["edges"]) <= 10
    ranks = [edge["node"]["rank"] for edge in board["edges"]]
    assert ranks == sorted(ranks)


def test_record_share_returns_the_event_recorded_as_the_caller(org: Org) -> None:
    payload = share(org.api(org.alice), f"c-{uuid.uuid4().hex[:8]}", "X")
    event = payload["event"]
    assert payload["errors"] == []
    assert (event["type"], event["employeeId"]) == ("content.shared", org.alice)
    # The relay gives the sequence when it publishes (null until then).
    assert event["sequence"] is None or event["sequence"] >= 1


def test_the_same_event_id_twice_is_recorded_once(org: Org) -> None:
    api = org.api(org.alice)
    event_id = f"01E2E{uuid.uuid4().hex[:21].upper()}"
    # A retry repeats the whole action, its time included (the same id with other content
    # would be a conflict).
    content_id = f"c-{uuid.uuid4().hex[:8]}"
    catalogue_content(content_id)
    variables = {
        "eventId": event_id,
        "occurredAt": format_instant(datetime.now(UTC)),
        "contentId": content_id,
        "network": "FACEBOOK",
        "url": "https://ex.org/same",
    }
    first = api.run(SHARE, input=variables)["recordShare"]
    again = api.run(SHARE, input=variables)["recordShare"]
    assert first["errors"] == again["errors"] == []
    # Same event; only the sequence may have arrived in between (the relay gives it).
    assert {**first["event"], "sequence": None} == {**again["event"], "sequence": None}


def test_a_future_occurred_at_is_a_field_error_naming_the_input(org: Org) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    payload = org.api(org.alice).run(
        SHARE,
        input={
            "contentId": "c-future",
            "network": "LINKEDIN",
            "url": "https://ex.org/f",
            "occurredAt": future,
        },
    )["recordShare"]
    assert payload["event"] is None
    assert [e["field"] for e in payload["errors"]] == ["input.occurredAt"]


def test_complete_course_answer_survey_and_acknowledge_charter_record_events(org: Org) -> None:
    api = org.api(org.alice)
    course = api.run(
        """mutation { completeCourse(input: {courseId: "k-ai-1", track: "ai", score: 91,
            durationMinutes: 30}) { event { type employeeId } errors { field } } }"""
    )["completeCourse"]
    survey = api.run(
        """mutation { answerSurvey(input: {surveyId: "s-e2e", questionId: "nps", kind: ENPS,
            score: 9}) { event { type employeeId } errors { field } } }"""
    )["answerSurvey"]
    charter = api.run(
        """mutation { acknowledgeCharter(input: {charterId: "social-media", version: "1"}) {
            event { type employeeId } errors { field } } }"""
    )["acknowledgeCharter"]
    # The LMS, not the app, reports completed courses: the events service refuses the
    # app's claim, naming the source.
    assert [course, survey, charter] == [
        {"event": None, "errors": [{"field": "input.source"}]},
        {"event": {"type": "survey.answered", "employeeId": org.alice}, "errors": []},
        {"event": {"type": "charter.acknowledged", "employeeId": org.alice}, "errors": []},
    ]


def test_me_shows_points_rank_ledger_explanations_and_badges(scored: Org) -> None:
    data = scored.api(scored.alice).run(
        """{ me { id displayName team points { allTime day } rank
            ledger(first: 5) { edges { node { eventType ruleId points explanation } } }
            badges { badgeId name tier status } badgeProgress { badgeId current } } }"""
    )
    me = data["me"]
    assert (me["id"], me["displayName"], me["team"]) == (scored.alice, "Alice E2E", scored.team)
    assert me["points"]["allTime"] > 0
    assert me["rank"] >= 1
    entries = [edge["node"] for edge in me["ledger"]["edges"]]
    assert entries and all(entry["explanation"] for entry in entries)
    assert isinstance(me["badges"], list)
    assert isinstance(me["badgeProgress"], list)


def test_team_board_shows_the_visible_name_and_the_pseudonym_without_its_id(
    scored: Org,
) -> None:
    def board() -> list[dict[str, Any]] | None:
        data = scored.api(scored.alice).run(
            """query Team($team: ID!) { leaderboard(scope: TEAM, teamId: $team, first: 10) {
                edges { node { rank points isMe employee { id displayName } } } } }""",
            team=scored.team,
        )
        nodes = [edge["node"] for edge in data["leaderboard"]["edges"]]
        return nodes if len(nodes) >= 2 else None

    nodes = eventually(board, "both sharers on the team board")
    employees = [node["employee"] for node in nodes]
    assert {"id": scored.alice, "displayName": "Alice E2E"} in employees
    pseudonymous = [
        e for e in employees if e["displayName"] and e["displayName"].startswith("Fox-")
    ]
    assert pseudonymous == [{"id": None, "displayName": pseudonymous[0]["displayName"]}]
    assert scored.hidden not in [e["id"] for e in employees]
    assert [node["isMe"] for node in nodes if node["employee"]["id"] == scored.alice] == [True]


def test_around_me_places_the_caller_among_their_neighbours(scored: Org) -> None:
    data = scored.api(scored.alice).run(
        """query Around($team: ID!) { leaderboard(scope: TEAM, teamId: $team, first: 1) {
            aroundMe(radius: 2) { rank points entries { rank isMe } } } }""",
        team=scored.team,
    )
    around = data["leaderboard"]["aroundMe"]
    assert around["rank"] >= 1
    assert [entry["rank"] for entry in around["entries"] if entry["isMe"]] == [around["rank"]]


def test_pages_follow_each_other_without_overlap(scored: Org) -> None:
    api = scored.api(scored.alice)
    query = """query Page($after: String) { leaderboard(first: 1, after: $after) {
        edges { node { rank } } pageInfo { hasNextPage endCursor } } }"""
    first = api.run(query)["leaderboard"]
    assert first["pageInfo"]["hasNextPage"] is True
    second = api.run(query, after=first["pageInfo"]["endCursor"])["leaderboard"]
    assert second["edges"][0]["node"]["rank"] > first["edges"][0]["node"]["rank"]


def test_team_leaderboard_ranks_teams_by_points_per_active_member(scored: Org) -> None:
    def our_team() -> dict[str, Any] | None:
        data = scored.api(scored.alice).run(
            """{ teamLeaderboard(normalize: PER_ACTIVE_MEMBER, first: 100) {
                edges { node { rank teamId points activeMembers score } } } }"""
        )
        nodes = [edge["node"] for edge in data["teamLeaderboard"]["edges"]]
        return next((n for n in nodes if n["teamId"] == scored.team), None)

    team = eventually(our_team, "our team on the team board")
    assert team["points"] > 0
    assert team["activeMembers"] >= 1


def test_badge_catalogue_is_listed_in_both_languages(org: Org) -> None:
    data = org.api().run(
        "{ badges { id kind fr: name(lang: FR) en: name(lang: EN) tiers { tier } } }"
    )
    assert data["badges"], "the default catalogue is not empty"
    assert all(badge["fr"] and badge["en"] for badge in data["badges"])


def test_enps_of_a_tiny_group_gives_no_figures(org: Org) -> None:
    data = org.api(org.alice).run(
        'query E($team: ID) { enps(surveyId: "s-e2e", teamId: $team) { tooFewAnswers enps n } }',
        team=org.team,
    )
    assert data["enps"] in (None, {"tooFewAnswers": True, "enps": None, "n": None})


def test_another_employees_ledger_is_refused_and_an_admin_reads_it(scored: Org) -> None:
    query = (
        "query L($id: ID!) { employee(id: $id) { displayName ledger { edges { node { id } } } } }"
    )
    data, errors = scored.api(scored.bruno).attempt(query, id=scored.alice)
    assert data == {"employee": {"displayName": "Alice E2E", "ledger": None}}
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
    admin = scored.admin().run(query, id=scored.alice)
    assert admin["employee"]["ledger"]["edges"]


def test_pseudonymous_and_hidden_profiles_are_not_public(org: Org) -> None:
    query = "query P($a: ID!, $b: ID!) { a: employee(id: $a) { id } b: employee(id: $b) { id } }"
    data = org.api(org.alice).run(query, a=org.bruno, b=org.hidden)
    assert data == {"a": None, "b": None}
    own = org.api(org.hidden).run("{ me { id displayName visibility } }")
    assert own == {"me": {"id": org.hidden, "displayName": "Hidden E2E", "visibility": "HIDDEN"}}


def test_adjust_points_is_admin_only_and_moves_the_score(scored: Org) -> None:
    mutation = """mutation A($id: ID!) { adjustPoints(input: {employeeId: $id, points: 25,
        reason: "e2e correction"}) { event { type employeeId } errors { field } } }"""
    data, errors = scored.api(scored.alice).attempt(mutation, id=scored.alice)
    assert data == {"adjustPoints": None}
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
    alice = scored.api(scored.alice)
    before = my_points(alice)
    payload = scored.admin().run(mutation, id=scored.alice)["adjustPoints"]
    assert payload == {
        "event": {"type": "points.adjusted", "employeeId": scored.alice},
        "errors": [],
    }
    eventually(lambda: my_points(alice) >= before + 25 or None, "the adjustment in the score")


def test_upsert_employee_is_admin_only(org: Org) -> None:
    data, errors = org.api(org.alice).attempt(
        UPSERT, input={"id": org.alice, "displayName": "Hacked", "email": "x@example.org"}
    )
    assert data == {"upsertEmployee": None}
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]


def test_introspection_answers_in_development(org: Org) -> None:
    data = org.api().run("{ __schema { mutationType { fields { name } } } }")
    names = {field["name"] for field in data["__schema"]["mutationType"]["fields"]}
    assert names == {
        "recordShare",
        "completeCourse",
        "answerSurvey",
        "acknowledgeCharter",
        "adjustPoints",
        "upsertEmployee",
    }


def test_mutations_and_me_need_a_token(org: Org) -> None:
    data, errors = org.api().attempt("{ me { id } }")
    assert data == {"me": None}
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_bad_token_is_refused_with_401(org: Org) -> None:
    _, errors = Api(org.url, "Bearer not.a.token").attempt("{ badges { id } }")
    assert errors == [{"message": "malformed token", "extensions": {"code": "UNAUTHENTICATED"}}]
    raw = requests.post(
        org.url,
        json={"query": "{ badges { id } }"},
        headers={"Authorization": "Bearer x.y.z"},
        timeout=10,
    )
    assert raw.status_code == 401


def test_limits_on_page_size_aliases_cost_and_body(org: Org, running_stack: Any) -> None:
    api = org.api(org.alice)
    _, errors = api.attempt("{ leaderboard(first: 101) { totalCount } }")
    assert errors[0]["extensions"] == {"code": "INVALID", "field": "first"}
    aliases = " ".join(f"b{n}: badges {{ id }}" for n in range(21))
    _, errors = api.attempt("{ " + aliases + " }")
    assert "aliases" in errors[0]["message"]
    fields = " ".join("__typename" for _ in range(10))
    spreads = " ".join("...F" for _ in range(31))
    _, errors = api.attempt(f"query Big {{ {spreads} }} fragment F on Query {{ {fields} }}")
    assert errors[0]["message"] == "operation 'Big' selects more than 300 fields"
    # 20 boards of 100 entries, points, rank and badges per entry: refused before any call.
    board = (
        "leaderboard(first: 100) { edges { node { employee"
        " { points { allTime } rank badges { badgeId } } } } }"
    )
    _, errors = api.attempt("{ " + " ".join(f"b{n}: {board}" for n in range(20)) + " }")
    assert errors[0]["extensions"]["cost"] > running_stack.settings.gateway_max_cost
    assert errors[0]["extensions"]["maxCost"] == running_stack.settings.gateway_max_cost
    too_big = requests.post(
        org.url, json={"query": "{ badges { id } }", "pad": "x" * 70_000}, timeout=10
    )
    assert too_big.status_code == 413


def test_a_caller_over_the_rate_limit_gets_429(org: Org, running_stack: Any) -> None:
    limit = running_stack.settings.gateway_rate_limit
    if time.time() % 60 > 40:  # stay inside one counting window
        time.sleep(60 - time.time() % 60 + 0.2)
    token = issue_dev_token(running_stack.settings, running_stack.add_employee("e2e-rate"))
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [
        session.post(
            org.url, json={"query": "{ __typename }"}, headers=headers, timeout=5
        ).status_code
        for _ in range(limit + 1)
    ]
    assert statuses.count(200) == limit
    assert statuses[-1] == 429


def test_errors_never_show_internal_addresses(org: Org, running_stack: Any) -> None:
    response = requests.post(
        org.url,
        json={
            "query": 'query L($id: ID!) { employee(id: $id) { ledger(after: "zz")'
            " { edges { cursor } } } }",
            "variables": {"id": org.alice},
        },
        headers={"Authorization": org.api(org.alice).authorization or ""},
        timeout=10,
    )
    text = response.text
    for internal in (running_stack.events_url, running_stack.points_url, running_stack.badges_url):
        assert internal not in text
    assert "Traceback" not in text
