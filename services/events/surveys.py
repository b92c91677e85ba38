"""eNPS of a survey, sliced by team, site and whole months (the maths is in the domain)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.events.domain.enps import check_window, compute_monthly_enps, parse_month_start
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
    """The eNPS of a survey's `enps` answers in the slice; figures only for a group of at
    least `min_group` answers. Months are cut in the organisation's time zone."""
    first = parse_month_start(start, "from")
    last = parse_month_start(end, "to")
    check_window(first, last)
    zone = ZoneInfo(time_zone)
    scores_by_month: dict[str, list[int]] = defaultdict(list)
    for answer in store.answers_of(survey_id):
        if (
            answer.get("kind") == "enps"
            and (not team or answer.get("team") == team)
            and (not site or answer.get("site") == site)
        ):
            local_day = _local_day(answer["occurred_at"], zone)
            if _within(local_day, first, last):
                scores_by_month[local_day.strftime("%Y-%m")].append(answer["value"])
    result = compute_monthly_enps(scores_by_month, min_group)
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


def _within(local_day: date, first: date | None, last: date | None) -> bool:
    if first is not None and local_day < first:
        return False
    return last is None or local_day < last
