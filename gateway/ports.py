"""What the gateway needs from the services it fronts, as small abstract ports.

The HTTP adapters live in `gateway.clients`; unit tests give the schema fakes of these
ports. Payloads stay the services' own JSON (snake_case dicts): the gateway translates
them to GraphQL types and adds nothing of its own to store."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cercle_common.errors import InfrastructureError

Json = dict[str, Any]


class ServiceUnavailable(InfrastructureError):
    """A service did not answer in time, or answered with a server error. The message
    names the service only: never its internal address."""

    def __init__(self, service: str) -> None:
        super().__init__(f"the {service} service is unavailable")
        self.service = service


@dataclass(frozen=True)
class BoardQuery:
    """Which employee leaderboard to read: the period containing `at` (today when None),
    in a scope (`global`, `team` with `team_id`, `site` with `site_id`)."""

    period: str = "all"
    at: date | None = None
    scope: str = "global"
    team_id: str | None = None
    site_id: str | None = None

    def params(self) -> dict[str, str]:
        """The query-string parameters the points service expects."""
        params = {"period": self.period, "scope": self.scope}
        if self.at is not None:
            params["at"] = self.at.isoformat()
        if self.team_id is not None:
            params["team_id"] = self.team_id
        if self.site_id is not None:
            params["site_id"] = self.site_id
        return params


class EventsPort(abc.ABC):
    """The events service: the only door for writes, and the employee directory."""

    @abc.abstractmethod
    def record_event(self, envelope: Json) -> Json:
        """Store an employee's event; returns the stored event (with its sequence)."""

    @abc.abstractmethod
    def record_admin_event(self, envelope: Json) -> Json:
        """Store an admin-only event (`points.adjusted`) through the admin path."""

    @abc.abstractmethod
    def upsert_employee(self, employee_id: str, record: Json) -> Json:
        """Create or replace a directory entry (admin)."""

    @abc.abstractmethod
    def employees(self, ids: Sequence[str]) -> list[Json]:
        """Directory entries of `ids` in one call; unknown or erased ids are absent."""

    @abc.abstractmethod
    def enps(
        self,
        survey_id: str,
        team: str | None,
        site: str | None,
        start: date | None,
        end: date | None,
    ) -> Json:
        """eNPS figures of a survey, or the statement that there are too few answers."""

    @abc.abstractmethod
    def ready(self) -> None:
        """Raises unless the service answers its readiness probe."""


class PointsPort(abc.ABC):
    """The points service: scores, leaderboards and the explained ledger."""

    @abc.abstractmethod
    def leaderboard(self, board: BoardQuery, first: int, after: str | None) -> Json:
        """A page of an employee leaderboard."""

    @abc.abstractmethod
    def around(self, employee_id: str, board: BoardQuery, radius: int) -> Json:
        """An employee's rank and neighbours on a leaderboard."""

    @abc.abstractmethod
    def team_leaderboard(
        self, period: str, at: date | None, normalize: str, first: int, after: str | None
    ) -> Json:
        """A page of the team leaderboard."""

    @abc.abstractmethod
    def employee_points(self, employee_id: str) -> Json:
        """An employee's points for every period kind."""

    @abc.abstractmethod
    def ledger(self, employee_id: str, first: int, after: str | None) -> Json:
        """A page of an employee's ledger, newest first."""

    @abc.abstractmethod
    def ready(self) -> None:
        """Raises unless the service answers its readiness probe."""


class BadgesPort(abc.ABC):
    """The badges service: the catalogue, awards and progress."""

    @abc.abstractmethod
    def catalogue(self) -> list[Json]:
        """Every badge definition."""

    @abc.abstractmethod
    def employee_badges(self, employee_id: str) -> Json:
        """An employee's awards and progress."""

    @abc.abstractmethod
    def ready(self) -> None:
        """Raises unless the service answers its readiness probe."""


@dataclass(frozen=True)
class Services:
    """The three services the gateway talks to."""

    events: EventsPort
    points: PointsPort
    badges: BadgesPort
