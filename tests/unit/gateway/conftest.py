"""Fakes of the gateway's ports (the services it calls), and an app built on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cercle_common.errors import NotFound, ValidationError
from cercle_common.settings import Settings
from gateway.app import create_app
from gateway.auth import issue_dev_token
from gateway.context import RequestContext
from gateway.execution import GraphQLRuntime
from gateway.limits import RateDecision, RateLimiter
from gateway.ports import (
    BadgesPort,
    BoardQuery,
    EventsPort,
    Json,
    PointsPort,
    Services,
    ServiceUnavailable,
)
from gateway.schema import schema

Caller = Any


def person(
    employee_id: str,
    name: str,
    visibility: str = "visible",
    pseudonym: str | None = None,
    team: str = "t-sales",
    site: str = "s-lyon",
    active: bool = True,
) -> Json:
    """A directory entry as the events service returns it."""
    return {
        "id": employee_id,
        "display_name": name,
        "pseudonym": pseudonym,
        "visibility": visibility,
        "team": team,
        "department": "d-commercial",
        "site": site,
        "country": "FR",
        "locale": "fr-FR",
        "fte": 1.0,
        "active": active,
    }


class FakeEvents(EventsPort):
    """The events service: a directory in a dict; recorded events in a list."""

    def __init__(self) -> None:
        self.directory: dict[str, Json] = {}
        self.recorded: list[Json] = []
        self.admin_recorded: list[Json] = []
        self.upserted: list[tuple[str, Json]] = []
        self.directory_calls: list[list[str]] = []
        self.directory_attempts = 0
        self.enps_answers: dict[str, Json] = {}
        self.enps_calls: list[tuple[Any, ...]] = []
        self.refusal: ValidationError | None = None
        self.down = False
        self.sequence = 0

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailable("events")

    def _store(self, envelope: Json, into: list[Json]) -> Json:
        self._check()
        if self.refusal is not None:
            raise self.refusal
        self.sequence += 1
        stored = {**envelope, "sequence": self.sequence, "accepted_at": "2026-11-26T10:00:00Z"}
        into.append(stored)
        return stored

    def record_event(self, envelope: Json) -> Json:
        return self._store(envelope, self.recorded)

    def record_admin_event(self, envelope: Json) -> Json:
        return self._store(envelope, self.admin_recorded)

    def upsert_employee(self, employee_id: str, record: Json) -> Json:
        self._check()
        if self.refusal is not None:
            raise self.refusal
        self.upserted.append((employee_id, record))
        entry = {"id": employee_id, "visibility": "visible", "pseudonym": None, **record}
        self.directory[employee_id] = entry
        return entry

    def employees(self, ids: Sequence[str]) -> list[Json]:
        self.directory_attempts += 1
        self._check()
        self.directory_calls.append(list(ids))
        return [self.directory[i] for i in ids if i in self.directory]

    def enps(
        self,
        survey_id: str,
        team: str | None,
        site: str | None,
        start: date | None,
        end: date | None,
    ) -> Json:
        self._check()
        self.enps_calls.append((survey_id, team, site, start, end))
        if survey_id not in self.enps_answers:
            raise NotFound("unknown survey", "survey_id")
        return self.enps_answers[survey_id]

    def ready(self) -> None:
        self._check()


@dataclass
class FakePoints(PointsPort):
    """The points service: a board as a ranked list; cursors are offsets."""

    board: list[Json] = field(default_factory=list)
    teams: list[Json] = field(default_factory=list)
    totals: dict[str, Json] = field(default_factory=dict)
    ledgers: dict[str, list[Json]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    down: bool = False
    # Hidden employees' places (rank, points): on no board, known to themselves.
    hidden_places: dict[str, tuple[int, int]] = field(default_factory=dict)

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailable("points")

    @staticmethod
    def _page(entries: list[Json], first: int, after: str | None) -> tuple[list[Json], Json]:
        start = int(after) if after else 0
        page = entries[start : start + first]
        end = start + len(page)
        info = {"has_next_page": end < len(entries), "end_cursor": str(end) if page else None}
        return page, info

    def leaderboard(self, board: BoardQuery, first: int, after: str | None) -> Json:
        self._check()
        self.calls.append(("leaderboard", (board, first, after)))
        entries, info = self._page(self.board, first, after)
        return {
            "period": board.period,
            "period_key": "2026-W48" if board.period == "week" else board.period,
            "scope": board.scope,
            "entries": entries,
            "page_info": info,
            "total_count": len(self.board),
        }

    def around(self, employee_id: str, board: BoardQuery, radius: int) -> Json:
        self._check()
        self.calls.append(("around", (employee_id, board, radius)))
        if employee_id in self.hidden_places:
            # Not on the board: the points service answers where they would stand.
            rank, points = self.hidden_places[employee_id]
            low, high = max(rank - 1 - radius, 0), rank + radius
            return {
                "employee_id": employee_id,
                "rank": rank,
                "points": points,
                "listed": False,
                "entries": self.board[low:high],
            }
        index = next(
            (i for i, e in enumerate(self.board) if e.get("employee_id") == employee_id), None
        )
        if index is None:
            raise NotFound("not ranked", "employee_id")
        entry = self.board[index]
        low, high = max(index - radius, 0), index + radius + 1
        return {
            "employee_id": employee_id,
            "rank": entry["rank"],
            "points": entry["points"],
            "entries": self.board[low:high],
        }

    def team_leaderboard(
        self, period: str, at: date | None, normalize: str, first: int, after: str | None
    ) -> Json:
        self._check()
        self.calls.append(("teams", (period, at, normalize, first, after)))
        entries, info = self._page(self.teams, first, after)
        return {"period": period, "period_key": period, "entries": entries, "page_info": info}

    def employee_points(self, employee_id: str) -> Json:
        self._check()
        self.calls.append(("points", employee_id))
        if employee_id not in self.totals:
            raise NotFound("no points", "employee_id")
        return {"employee_id": employee_id, "points": self.totals[employee_id]}

    def ledger(self, employee_id: str, first: int, after: str | None) -> Json:
        self._check()
        self.calls.append(("ledger", (employee_id, first, after)))
        entries, info = self._page(self.ledgers.get(employee_id, []), first, after)
        return {"entries": entries, "page_info": info}

    def ready(self) -> None:
        self._check()


@dataclass
class FakeBadges(BadgesPort):
    """The badges service: a catalogue and awards per employee."""

    badges: list[Json] = field(default_factory=list)
    holdings: dict[str, Json] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    down: bool = False

    def catalogue(self) -> list[Json]:
        if self.down:
            raise ServiceUnavailable("badges")
        self.calls.append("catalogue")
        return self.badges

    def employee_badges(self, employee_id: str) -> Json:
        if self.down:
            raise ServiceUnavailable("badges")
        self.calls.append(employee_id)
        if employee_id not in self.holdings:
            raise NotFound("unknown employee", "employee_id")
        return self.holdings[employee_id]

    def ready(self) -> None:
        if self.down:
            raise ServiceUnavailable("badges")


class CountingLimiter(RateLimiter):
    """Allows `limit` requests per subject, forever (no window)."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self.counts: dict[str, int] = {}

    def hit(self, subject: str) -> RateDecision:
        self.counts[subject] = self.counts.get(subject, 0) + 1
        count = self.counts[subject]
        return RateDecision(count <= self.limit, self.limit, max(self.limit - count, 0), 42)


@pytest.fixture
def services() -> Services:
    """Fake services holding a small organisation."""
    events = FakeEvents()
    for entry in (
        person("e-1", "Alice Martin"),
        person("e-2", "Bruno Petit", visibility="pseudonym", pseudonym="Renard"),
        person("e-3", "Chloé Durand", team="t-tech"),
        person("e-9", "Hugo Hidden", visibility="hidden"),
    ):
        events.directory[entry["id"]] = entry
    points = FakePoints(
        board=[
            {"rank": 1, "employee_id": "e-1", "pseudonym": None, "points": 120},
            {"rank": 2, "employee_id": None, "pseudonym": "Renard", "points": 90},
            {"rank": 3, "employee_id": "e-3", "pseudonym": None, "points": 75},
        ],
        teams=[
            {"rank": 1, "team_id": "t-tech", "points": 75, "active_members": 1, "score": 75.0},
            {"rank": 2, "team_id": "t-sales", "points": 210, "active_members": 3, "score": 70.0},
        ],
        totals={
            "e-1": {"all": 120, "day": 10, "week": 30, "month": 60, "quarter": 100, "year": 120}
        },
        ledgers={
            "e-1": [
                {
                    "id": f"ev-{n}:share",
                    "event_id": f"ev-{n}",
                    "event_type": "content.shared",
                    "rule_id": "share",
                    "rules_version": "3",
                    "points": 10,
                    "explanation": f"shared on LinkedIn: +10; daily cap 3, {n} used",
                    "occurred_at": f"2026-11-2{n}T09:30:00Z",
                    "sequence": 100 + n,
                }
                for n in (3, 2, 1)
            ]
        },
    )
    badges = FakeBadges(
        badges=[
            {
                "id": "sharer",
                "kind": "count",
                "name": {"fr": "Ambassadeur", "en": "Ambassador"},
                "description": {"fr": "Partager du contenu", "en": "Share content"},
                "tiers": [
                    {"tier": "bronze", "threshold": 5, "image_url": "https://b.example/s1.svg"},
                    {"tier": "silver", "threshold": 10, "image_url": "https://b.example/s2.svg"},
                ],
            }
        ],
        holdings={
            "e-1": {
                "employee_id": "e-1",
                "awards": [
                    {
                        "badge_id": "sharer",
                        "tier": "bronze",
                        "status": "awarded",
                        "awarded_at": "2026-11-20T10:00:00Z",
                        "revoked_at": None,
                        "reason": None,
                        "evidence": ["ev-1", "ev-2"],
                        "assertion_url": "https://b.example/ob/assertions/a1",
                    }
                ],
                "progress": [
                    {
                        "badge_id": "sharer",
                        "current": 7,
                        "next_tier": "silver",
                        "next_threshold": 10,
                    }
                ],
            }
        },
    )
    return Services(events=events, points=points, badges=badges)


@pytest.fixture
def runtime() -> GraphQLRuntime:
    """The schema with the development limits."""
    return GraphQLRuntime(schema.graphql_schema, production=False)


@pytest.fixture
def run(runtime: GraphQLRuntime, services: Services) -> Any:
    """`run(query, caller=None, variables=None, lang="en")` → the public response body."""
    from gateway.auth import Caller as AuthCaller

    def execute(
        query: str,
        caller: AuthCaller | None = None,
        variables: dict[str, Any] | None = None,
        lang: str = "en",
    ) -> dict[str, Any]:
        context = RequestContext(services, caller, lang)
        return runtime.public_result(runtime.run(query, variables, None, context))

    return execute


@pytest.fixture
def dev_settings() -> Settings:
    """Development settings (HS256 tokens, GraphiQL, anonymous public reads)."""
    return Settings.from_env({"env": "dev"}, environ={})


@pytest.fixture
def app(dev_settings: Settings, services: Services) -> Flask:
    """The gateway on fake services and an in-memory rate limit of 5 per caller."""
    return create_app(dev_settings, services=services, rate_limiter=CountingLimiter(5))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the gateway."""
    return app.test_client()


@pytest.fixture
def token(dev_settings: Settings) -> Any:
    """`token("e-1", "admin")` → an Authorization header value."""

    def make(employee_id: str, *roles: str) -> str:
        return "Bearer " + issue_dev_token(dev_settings, employee_id, roles)

    return make
