"""A small catalogue with one badge of every kind, and builders of facts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from services.badges.domain.catalogue import Catalogue, parse_catalogue
from services.badges.domain.facts import ActionFact, PointsFact

TZ = "Europe/Paris"


def text(en: str) -> dict[str, str]:
    return {"en": en, "fr": f"{en} (fr)"}


CATALOGUE: dict[str, Any] = {
    "version": "test",
    "issuer": {"name": "Cercle", "url": "https://cercle.test", "email": "badges@cercle.test"},
    "badges": [
        {
            "id": "first-share",
            "kind": "first",
            "name": text("First share"),
            "description": text("First share."),
            "criteria": {"type": "content.shared"},
        },
        {
            "id": "ambassador",
            "kind": "count",
            "name": text("Ambassador"),
            "description": text("Shares."),
            "criteria": {"type": "content.shared"},
            "distinct": "content_id",
            "tiers": [
                {"tier": "bronze", "threshold": 2},
                {"tier": "silver", "threshold": 4},
                {"tier": "gold", "threshold": 6},
            ],
        },
        {
            "id": "weekly-sharer",
            "kind": "streak",
            "name": text("Weekly"),
            "description": text("Weekly."),
            "criteria": {"type": "content.shared"},
            "period": "week",
            "tiers": [{"tier": "bronze", "threshold": 3}, {"tier": "silver", "threshold": 5}],
        },
        {
            "id": "daily-sharer",
            "kind": "streak",
            "name": text("Daily"),
            "description": text("Daily."),
            "criteria": {"type": "content.shared"},
            "period": "day",
            "tiers": [{"tier": "bronze", "threshold": 3}],
        },
        {
            "id": "survey-voice",
            "kind": "streak",
            "name": text("Survey voice"),
            "description": text("Surveys."),
            "criteria": {"type": "survey.answered"},
            "period": "month",
            "tiers": [{"tier": "bronze", "threshold": 3}],
        },
        {
            "id": "charter-signed",
            "kind": "charter",
            "name": text("Charter"),
            "description": text("Charter."),
        },
        {
            "id": "foundations",
            "kind": "set",
            "name": text("Foundations"),
            "description": text("Track."),
            "courses": ["c-1", "c-2", "c-3"],
        },
        {
            "id": "milestones",
            "kind": "points",
            "name": text("Milestones"),
            "description": text("Points."),
            "scope": "all",
            "tiers": [
                {"tier": "bronze", "threshold": 100},
                {"tier": "silver", "threshold": 250},
                {"tier": "gold", "threshold": 1000},
            ],
        },
        {
            "id": "month-high",
            "kind": "points",
            "name": text("Month high"),
            "description": text("Points in a month."),
            "scope": "month",
            "tiers": [{"tier": "bronze", "threshold": 150}],
        },
        {
            "id": "regular",
            "kind": "periodic",
            "name": text("Regular"),
            "description": text("Monthly."),
            "min_points": 50,
            "tiers": [{"tier": "bronze", "threshold": 3}],
        },
        {
            "id": "sprint",
            "kind": "challenge",
            "name": text("Sprint"),
            "description": text("First two to share twice."),
            "criteria": {"type": "content.shared"},
            "start": "2026-12-01T00:00:00+01:00",
            "end": "2026-12-08T00:00:00+01:00",
            "target": 2,
            "first_k": 2,
        },
        {
            "id": "team-week",
            "kind": "challenge",
            "name": text("Team week"),
            "description": text("Teams completing 3 courses."),
            "criteria": {"type": "course.completed"},
            "start": "2026-12-01T00:00:00+01:00",
            "end": "2026-12-08T00:00:00+01:00",
            "target": 3,
            "team": True,
        },
    ],
}


@pytest.fixture
def raw_catalogue() -> dict[str, Any]:
    return CATALOGUE


@pytest.fixture
def catalogue() -> Catalogue:
    return parse_catalogue(CATALOGUE)


class Facts:
    """Builds events and ledger entries; sequences grow in the order facts are built."""

    def __init__(self) -> None:
        self._sequence = itertools.count(1)

    @staticmethod
    def at(text_instant: str) -> datetime:
        return datetime.fromisoformat(text_instant.replace("Z", "+00:00")).astimezone(UTC)

    def event(
        self,
        occurred_at: str,
        type_: str = "content.shared",
        employee_id: str = "e-1",
        event_id: str | None = None,
        **data: Any,
    ) -> ActionFact:
        sequence = next(self._sequence)
        return ActionFact(
            id=event_id or f"ev-{sequence}",
            type=type_,
            employee_id=employee_id,
            occurred_at=self.at(occurred_at),
            sequence=sequence,
            data=data,
        )

    def entry(
        self,
        occurred_at: str,
        points: int,
        event_id: str | None = None,
        employee_id: str = "e-1",
        reverses: str | None = None,
    ) -> PointsFact:
        sequence = next(self._sequence)
        event_id = event_id or f"ev-{sequence}"
        return PointsFact(
            id=f"{event_id}:rule",
            event_id=event_id,
            employee_id=employee_id,
            points=points,
            occurred_at=self.at(occurred_at),
            sequence=sequence,
            reverses=reverses,
        )


@pytest.fixture
def facts() -> Facts:
    return Facts()
