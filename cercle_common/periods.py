"""Periods cut in the organisation's time zone: day, ISO week, month, quarter, year."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DAY = "day"
WEEK = "week"
MONTH = "month"
QUARTER = "quarter"
YEAR = "year"
ALL_TIME = "all"
PERIOD_KINDS = (DAY, WEEK, MONTH, QUARTER, YEAR, ALL_TIME)


@dataclass(frozen=True)
class PeriodKeys:
    """The key of every period an instant falls in, e.g. week `2026-W48`."""

    day: str
    week: str
    month: str
    quarter: str
    year: str
    all: str = "all"

    def as_dict(self) -> dict[str, str]:
        """Kind → key, for every kind in `PERIOD_KINDS`."""
        return {kind: getattr(self, kind) for kind in PERIOD_KINDS}


def period_keys(instant: datetime, time_zone: str) -> PeriodKeys:
    """The periods `instant` (timezone-aware) belongs to, in `time_zone`."""
    local = instant.astimezone(ZoneInfo(time_zone))
    iso_year, iso_week, _ = local.isocalendar()
    return PeriodKeys(
        day=local.strftime("%Y-%m-%d"),
        week=f"{iso_year}-W{iso_week:02d}",
        month=local.strftime("%Y-%m"),
        quarter=f"{local.year}-Q{(local.month - 1) // 3 + 1}",
        year=str(local.year),
    )


def period_key(kind: str, instant: datetime, time_zone: str) -> str:
    """The key of one kind of period, e.g. `period_key("month", now, "Europe/Paris")`."""
    if kind not in PERIOD_KINDS:
        raise ValueError(f"unknown period kind {kind!r}; expected one of {PERIOD_KINDS}")
    return period_keys(instant, time_zone).as_dict()[kind]
