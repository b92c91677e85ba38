"""eNPS arithmetic and the anonymity rules around it (pure)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import date
from typing import Any

from cercle_common.errors import ValidationError

PROMOTER_MIN = 9
PASSIVE_MIN = 7
MONTH_START = re.compile(r"^\d{4}-\d{2}-01$")


@dataclass(frozen=True)
class EnpsResult:
    """Shares in percent (one decimal), the eNPS (promoters % - detractors %) and n; or,
    for a group under the anonymity threshold, only the fact that it is too small."""

    enough_answers: bool
    n: int | None = None
    promoters: float | None = None
    passives: float | None = None
    detractors: float | None = None
    enps: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: figures only when the group is large enough."""
        if not self.enough_answers:
            return {"enough_answers": False, "reason": "too few answers to show"}
        return {
            "enough_answers": True,
            "n": self.n,
            "promoters": self.promoters,
            "passives": self.passives,
            "detractors": self.detractors,
            "enps": self.enps,
        }


def compute_enps(scores: Iterable[int], min_group: int) -> EnpsResult:
    """eNPS of 0-10 scores: 9-10 promoters, 7-8 passives, 0-6 detractors."""
    values = list(scores)
    n = len(values)
    if n == 0 or n < min_group:
        return EnpsResult(enough_answers=False)
    promoters = sum(1 for value in values if value >= PROMOTER_MIN)
    passives = sum(1 for value in values if PASSIVE_MIN <= value < PROMOTER_MIN)
    detractors = n - promoters - passives
    share = _percent(n)
    return EnpsResult(
        enough_answers=True,
        n=n,
        promoters=share(promoters),
        passives=share(passives),
        detractors=share(detractors),
        enps=round(100 * (promoters - detractors) / n, 1),
    )


def compute_monthly_enps(
    scores_by_month: Mapping[str, Iterable[int]], min_group: int
) -> EnpsResult:
    """eNPS of a window of whole months. Figures are shown only when every month that has
    answers has at least `min_group` of them: then subtracting two overlapping windows
    yields at most a month's aggregate of a group that is itself large enough."""
    months = [list(scores) for scores in scores_by_month.values()]
    if any(0 < len(scores) < min_group for scores in months):
        return EnpsResult(enough_answers=False)
    return compute_enps((score for scores in months for score in scores), min_group)


@dataclass(frozen=True)
class EnpsAnswer:
    """One employee's answer to an eNPS question of a survey, as the report sees it."""

    employee_id: str
    score: int
    month: str  # YYYY-MM in the organisation's time zone
    team: str | None
    site: str | None
    order: tuple[str, int]  # (occurred_at, sequence): the latest answer wins


def latest_per_employee(answers: Iterable[EnpsAnswer]) -> list[EnpsAnswer]:
    """One answer per employee per survey, the latest, whatever question ids were used:
    padding a survey with extra eNPS questions must not add weight to anyone. Taken over
    the whole survey before any window, so each employee counts in exactly one month."""
    latest: dict[str, EnpsAnswer] = {}
    for answer in answers:
        known = latest.get(answer.employee_id)
        if known is None or answer.order > known.order:
            latest[answer.employee_id] = answer
    return list(latest.values())


def isolable_by_differencing(
    group: Set[str], shown_groups: Iterable[Set[str]], min_group: int
) -> bool:
    """True when a group that could be shown differs from `group` by 1 to `min_group - 1`
    people: subtracting the two figures would give the aggregate of fewer people than
    the threshold (a site that holds one more person than a team gives that person)."""
    return any(0 < len(group ^ other) < min_group for other in shown_groups)


def group_enps(
    answers: Iterable[EnpsAnswer], *, team: str | None, site: str | None, min_group: int
) -> EnpsResult:
    """eNPS of the answers of a team and/or a site (None: any) among `answers`, which are
    one per employee and within the window. Suppressed (as a small group is) when any
    month has too few answers, or when another group the API shows (the organisation, a
    team, a site, a team at a site) differs from it by fewer than `min_group` people."""
    everyone = list(answers)
    members = [a for a in everyone if _in_group(a, team, site)]
    scores_by_month: dict[str, list[int]] = defaultdict(list)
    for answer in members:
        scores_by_month[answer.month].append(answer.score)
    result = compute_monthly_enps(scores_by_month, min_group)
    if not result.enough_answers:
        return result
    shown = [g for g in _groups_the_api_shows(everyone) if len(g) >= min_group]
    if isolable_by_differencing({a.employee_id for a in members}, shown, min_group):
        return EnpsResult(enough_answers=False)
    return result


def _in_group(answer: EnpsAnswer, team: str | None, site: str | None) -> bool:
    return (team is None or answer.team == team) and (site is None or answer.site == site)


def _groups_the_api_shows(answers: list[EnpsAnswer]) -> list[frozenset[str]]:
    teams = {a.team for a in answers}
    sites = {a.site for a in answers}
    slices: list[tuple[str | None, str | None]] = [(None, None)]
    slices += [(t, None) for t in teams] + [(None, s) for s in sites]
    slices += [(t, s) for t in teams for s in sites]
    return [
        frozenset(a.employee_id for a in answers if _in_group(a, team, site))
        for team, site in slices
    ]


def _percent(total: int):  # type: ignore[no-untyped-def]
    return lambda count: round(100 * count / total, 1)


def parse_month_start(value: str | None, field: str) -> date | None:
    """`from` / `to` are first days of a month (`2026-10-01`): windows are whole months,
    so two overlapping windows cannot be subtracted to isolate one person's answer."""
    if value is None or value == "":
        return None
    if not MONTH_START.match(value):
        raise ValidationError("must be the first day of a month, e.g. 2026-10-01", field)
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise ValidationError("is not a valid date", field) from error


def check_window(start: date | None, end: date | None) -> None:
    """`to` is exclusive and must come after `from`."""
    if start is not None and end is not None and end <= start:
        raise ValidationError("must be after from (to is exclusive)", "to")
