"""eNPS of a survey, sliced by team, site and whole months (the maths is in the domain)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.events.domain.enps import (
    EnpsAnswer,
    check_window,
    group_enps,
    latest_per_employee,
    parse_month_start,
)
from services.events.store import EventStore


def enps_report(
    store: EventStore,
    survey_id: str,
    *,
    team: str | None,
    site: str | None,
    start: str | None,
    end: str | None,
    min_group: int,
    time_zone: str,
) -> dict[str, Any]:
    """The eNPS of a survey: each employee's latest `enps` answer, in the slice and the
    window; figures only when the slice is published in every month of the window with
    answers in it (primary and complementary suppression, decided per month from all the
    answers of that month: see `published_slices`). Months are cut in the organisation's
    time zone."""
    first = parse_month_start(start, "from")
    last = parse_month_start(end, "to")
    check_window(first, last)
    zone = ZoneInfo(time_zone)
    answers = latest_per_employee(
        EnpsAnswer(
            employee_id=answer["employee_id"],
            score=answer["value"],
            month=_local_day(answer["occurred_at"], zone).strftime("%Y-%m"),
            team=answer.get("team"),
            site=answer.get("site"),
            order=(answer["occurred_at"], answer.get("sequence") or 0),
        )
        for answer in store.answers_of(survey_id)
        if answer.get("kind") == "enps"
    )
    in_window = [a for a in answers if _within(a.month, first, last)]
    result = group_enps(in_window, team=team or None, site=site or None, min_group=min_group)
    return {
        "survey_id": survey_id,
        "team": team or None,
        "site": site or None,
        "from": start or None,
        "to": end or None,
        "min_group": min_group,
        **result.as_dict(),
    }


def _local_day(occurred_at: str, zone: ZoneInfo) -> date:
    return datetime.fromisoformat(occurred_at.replace("Z", "+00:00")).astimezone(zone).date()


def _within(month: str, first: date | None, last: date | None) -> bool:
    # Windows are whole months, so comparing months as YYYY-MM text is exact.
    if first is not None and month < first.strftime("%Y-%m"):
        return False
    return last is None or month < last.strftime("%Y-%m")
