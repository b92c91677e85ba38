"""Leaderboard arithmetic: one sortable number per (points, when reached), cursors, and
the period a query asks for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from cercle_common.errors import ValidationError
from cercle_common.periods import ALL_TIME, PERIOD_KINDS, period_keys

# A board score is points * 2**32 + (2**32 - 1 - sequence): more points first, then the
# earlier sequence (who reached the score first). Redis keeps scores as IEEE doubles,
# exact up to 2**53, so |points| must stay under 2**20 and sequences under 2**32.
SEQUENCE_SPAN = 2**32
MAX_BOARD_POINTS = 2**20 - 1
MAX_PAGE = 100


def board_score(points: int, reached_sequence: int) -> int:
    """The exact integer to store as the sorted-set score."""
    points = max(-MAX_BOARD_POINTS, min(points, MAX_BOARD_POINTS))
    sequence = max(0, min(reached_sequence, SEQUENCE_SPAN - 1))
    return points * SEQUENCE_SPAN + (SEQUENCE_SPAN - 1 - sequence)


def points_of(score: float) -> int:
    """The points encoded in a board score."""
    return int(score) // SEQUENCE_SPAN


@dataclass(frozen=True)
class PeriodQuery:
    """The period a request asks for: its kind and its key (e.g. week `2026-W48`)."""

    kind: str
    key: str


def resolve_period(kind: str, at: str | None, time_zone: str, now: datetime) -> PeriodQuery:
    """The period of kind `kind` containing the local date `at` (default: today in the
    organisation's time zone). Raises `ValidationError` naming `period` or `at`."""
    if kind not in PERIOD_KINDS:
        raise ValidationError(f"must be one of {', '.join(PERIOD_KINDS)}", "period")
    zone = ZoneInfo(time_zone)
    if at:
        try:
            day = date.fromisoformat(at)
        except ValueError as error:
            raise ValidationError("must be a date YYYY-MM-DD", "at") from error
    else:
        day = now.astimezone(zone).date()
    if kind == ALL_TIME:
        return PeriodQuery(kind, ALL_TIME)
    noon = datetime.combine(day, time(12), tzinfo=zone)
    return PeriodQuery(kind, period_keys(noon, time_zone).as_dict()[kind])


def page_size(raw: str | None, default: int, field: str = "first") -> int:
    """A page size from 1 to `MAX_PAGE`; a 422 naming `field` otherwise."""
    return bounded_int(raw, default, field, 1, MAX_PAGE)


def bounded_int(raw: str | None, default: int, field: str, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; a 422 naming `field` otherwise."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ValidationError("must be an integer", field) from error
    if not low <= value <= high:
        raise ValidationError(f"must be between {low} and {high}", field)
    return value
