"""The criterion of every badge kind, as plain functions of what an employee did.

`standing` says which tiers a badge's criterion holds for, with the evidence (event ids)
behind each, and the progress value shown to the employee. A criterion holds on the best
the employee ever achieved (longest streak, highest total): the clock moving on never
takes a badge back, only reversed evidence does. Challenges are decided across employees
by `challenge_winners`, once, at their end."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.badges.domain.catalogue import (
    CHALLENGE,
    CHARTER,
    COUNT,
    FIRST,
    PERIODIC,
    POINTS,
    SET,
    SINGLE_TIER,
    STREAK,
    BadgeDefinition,
)

ALL_TIME = "all"


@dataclass
class Match:
    """An event that counts for a badge. `key` is what the kind compares: the distinct
    value for a count, the course id for a set, the period key for a streak."""

    event_id: str
    sequence: int
    occurred_at: datetime
    key: str | None = None
    content_id: str | None = None
    network: str | None = None


@dataclass(frozen=True)
class Standing:
    """Tiers whose criterion holds (tier -> evidence event ids; empty evidence means "the
    fact that was just applied") and the progress value (`current`)."""

    held: dict[str, tuple[str, ...]] = field(default_factory=dict)
    current: int = 0


@dataclass(frozen=True)
class Contribution:
    """An employee's matching event in a challenge window, with their team at the end."""

    employee_id: str
    team: str | None
    event_id: str
    sequence: int


@dataclass(frozen=True)
class Winner:
    """A challenge winner: `rank` 1 reached the target first (for teams, the team's rank)."""

    employee_id: str
    rank: int
    evidence: tuple[str, ...]
    team: str | None = None


def local_period_key(kind: str, instant: datetime, time_zone: str) -> str:
    """The key of the day (`2026-11-26`), ISO week (`2026-W48`), month (`2026-11`), quarter
    (`2026-Q4`) or year of `instant`, in the organisation's time zone."""
    local = instant.astimezone(ZoneInfo(time_zone))
    # Years on four digits (`strftime("%Y")` writes year 1 as "1", which no parser reads).
    if kind == "day":
        return f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    if kind == "week":
        iso_year, iso_week, _ = local.isocalendar()
        return f"{iso_year:04d}-W{iso_week:02d}"
    if kind == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if kind == "quarter":
        return f"{local.year:04d}-Q{(local.month - 1) // 3 + 1}"
    if kind == "year":
        return f"{local.year:04d}"
    if kind == ALL_TIME:
        return ALL_TIME
    raise ValueError(f"unknown period kind {kind!r}")


def period_index(kind: str, key: str) -> int:
    """A number per period such that consecutive periods differ by one: ISO week 53 is
    followed by week 1 of the next ISO year, December by January."""
    if kind == "day":
        return date.fromisoformat(key).toordinal()
    if kind == "week":
        year, week = key.split("-W")
        # The Monday of each ISO week is 7 days after the previous one, across years.
        return date.fromisocalendar(int(year), int(week), 1).toordinal() // 7
    if kind == "month":
        year, month = key.split("-")
        return int(year) * 12 + int(month) - 1
    raise ValueError(f"no consecutive periods for {kind!r}")


def runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive numbers, as (first, last), in order."""
    ordered = sorted(set(indices))
    found: list[tuple[int, int]] = []
    for index in ordered:
        if found and index == found[-1][1] + 1:
            found[-1] = (found[-1][0], index)
        else:
            found.append((index, index))
    return found


def current_run(indices: set[int], now_index: int) -> int:
    """The length of the run still alive at `now_index`: it may end in the current period
    or the previous one (the current period is not over yet). Otherwise it is broken: 0."""
    for end in (now_index, now_index - 1):
        if end in indices:
            length = 0
            while end - length in indices:
                length += 1
            return length
    return 0


def standing(
    badge: BadgeDefinition,
    matches: Sequence[Match],
    totals: Mapping[str, int],
    as_of: datetime | None,
    time_zone: str,
) -> Standing:
    """Where an employee stands on `badge`, from the events that matched it and their
    points totals, as of the latest instant the state has seen."""
    ordered = sorted(matches, key=lambda match: match.sequence)
    if badge.kind in (FIRST, CHARTER):
        if not ordered:
            return Standing()
        return Standing({SINGLE_TIER: (ordered[0].event_id,)}, 1)
    if badge.kind == COUNT:
        return _count_standing(badge, ordered)
    if badge.kind == SET:
        return _set_standing(badge, ordered)
    if badge.kind == STREAK:
        return _streak_standing(badge, ordered, as_of, time_zone)
    if badge.kind == POINTS:
        return _points_standing(badge, totals, as_of, time_zone)
    if badge.kind == PERIODIC:
        return _periodic_standing(badge, totals, as_of, time_zone)
    if badge.kind == CHALLENGE:
        # Decided across employees at the end (challenge_winners); progress only here.
        return Standing({}, len(ordered))
    raise ValueError(f"unknown kind {badge.kind!r}")


def _held_by_threshold(
    badge: BadgeDefinition, value: int, evidence: Sequence[str] = ()
) -> dict[str, tuple[str, ...]]:
    return {
        tier.tier: tuple(evidence[: tier.threshold])
        for tier in badge.tiers
        if tier.threshold <= value
    }


def _count_standing(badge: BadgeDefinition, ordered: Sequence[Match]) -> Standing:
    seen: set[str] = set()
    counted: list[str] = []
    for match in ordered:
        key = match.key if badge.distinct else match.event_id
        if key is None or key in seen:
            continue
        seen.add(key)
        counted.append(match.event_id)
    return Standing(_held_by_threshold(badge, len(counted), counted), len(counted))


def _set_standing(badge: BadgeDefinition, ordered: Sequence[Match]) -> Standing:
    first_per_course: dict[str, str] = {}
    for match in ordered:
        if match.key in badge.courses and match.key not in first_per_course:
            first_per_course[match.key] = match.event_id
    done = len(first_per_course)
    if done < len(badge.courses):
        return Standing({}, done)
    evidence = tuple(first_per_course[course] for course in badge.courses)
    return Standing({SINGLE_TIER: evidence}, done)


def _streak_standing(
    badge: BadgeDefinition, ordered: Sequence[Match], as_of: datetime | None, time_zone: str
) -> Standing:
    assert badge.period is not None
    first_event: dict[int, str] = {}
    for match in ordered:
        if match.key is None:
            continue
        first_event.setdefault(period_index(badge.period, match.key), match.event_id)
    indices = set(first_event)
    held: dict[str, tuple[str, ...]] = {}
    found = runs(indices)
    for tier in badge.tiers:
        for first, last in found:
            if last - first + 1 >= tier.threshold:
                span = range(first, first + tier.threshold)
                held[tier.tier] = tuple(first_event[index] for index in span)
                break
    current = 0
    if as_of is not None:
        now_index = period_index(badge.period, local_period_key(badge.period, as_of, time_zone))
        current = current_run(indices, now_index)
    return Standing(held, current)


def _points_standing(
    badge: BadgeDefinition, totals: Mapping[str, int], as_of: datetime | None, time_zone: str
) -> Standing:
    scope = badge.period or ALL_TIME
    if scope == ALL_TIME:
        total = totals.get(ALL_TIME, 0)
        return Standing(_held_by_threshold(badge, total), total)
    prefix = f"{scope}:"
    best = max((value for key, value in totals.items() if key.startswith(prefix)), default=0)
    current = 0
    if as_of is not None:
        current = totals.get(prefix + local_period_key(scope, as_of, time_zone), 0)
    return Standing(_held_by_threshold(badge, best), current)


def _periodic_standing(
    badge: BadgeDefinition, totals: Mapping[str, int], as_of: datetime | None, time_zone: str
) -> Standing:
    assert badge.min_points is not None
    indices = {
        period_index("month", key.removeprefix("month:"))
        for key, value in totals.items()
        if key.startswith("month:") and value >= badge.min_points
    }
    best = max((last - first + 1 for first, last in runs(indices)), default=0)
    current = 0
    if as_of is not None:
        now_index = period_index("month", local_period_key("month", as_of, time_zone))
        current = current_run(indices, now_index)
    return Standing(_held_by_threshold(badge, best), current)


def challenge_winners(
    badge: BadgeDefinition, contributions: Iterable[Contribution]
) -> list[Winner]:
    """The winners of a challenge, from every matching event in its window. Individuals
    (or teams) are ranked by the sequence of the event that took them to the target; the
    first `first_k` win, or all who reached it. For a team, each member who contributed
    before the team reached the target wins."""
    assert badge.challenge is not None
    target = badge.tiers[0].threshold
    ordered = sorted(contributions, key=lambda contribution: contribution.sequence)
    if badge.challenge.team:
        return _team_winners(badge, target, ordered)
    progress: dict[str, list[str]] = {}
    reached: list[tuple[int, str]] = []
    for contribution in ordered:
        events = progress.setdefault(contribution.employee_id, [])
        if len(events) >= target:
            continue
        events.append(contribution.event_id)
        if len(events) == target:
            reached.append((contribution.sequence, contribution.employee_id))
    first_k = badge.challenge.first_k
    chosen = reached if first_k is None else reached[:first_k]
    return [
        Winner(employee_id=employee, rank=rank, evidence=tuple(progress[employee]))
        for rank, (_, employee) in enumerate(chosen, start=1)
    ]


def _team_winners(
    badge: BadgeDefinition, target: int, ordered: Sequence[Contribution]
) -> list[Winner]:
    assert badge.challenge is not None
    totals: dict[str, int] = {}
    members: dict[str, dict[str, list[str]]] = {}
    reached: list[str] = []
    for contribution in ordered:
        team = contribution.team
        if team is None or team in reached:
            continue
        totals[team] = totals.get(team, 0) + 1
        members.setdefault(team, {}).setdefault(contribution.employee_id, []).append(
            contribution.event_id
        )
        if totals[team] == target:
            reached.append(team)
    first_k = badge.challenge.first_k
    chosen = reached if first_k is None else reached[:first_k]
    return [
        Winner(employee_id=employee, rank=rank, evidence=tuple(events), team=team)
        for rank, team in enumerate(chosen, start=1)
        for employee, events in sorted(members[team].items())
    ]
