"""eNPS arithmetic and the anonymity rules around it (pure)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
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


Slice = tuple[str | None, str | None]
"""What a query names: (team, site), None for any. (None, None) is the organisation."""


def slices_of(answer: EnpsAnswer) -> frozenset[Slice]:
    """The slices a query can name that hold this answer (at most four)."""
    team, site = answer.team, answer.site
    candidates = [(None, None), (team, None), (None, site), (team, site)]
    return frozenset(
        (t, s)
        for t, s in candidates
        if (t is None or team is not None) and (s is None or site is not None)
    )


def published_slices(month: Iterable[EnpsAnswer], min_group: int) -> frozenset[Slice]:
    """The slices whose figures are published for one month's answers (one per employee).

    Primary suppression: a slice under `min_group` answers is not published. Complementary
    suppression: a figure is a sum over the answers in it, so sums and differences of
    published figures can only give groups that are unions of *blocks*, the answers
    sharing the same published slices. While a block holding fewer than `min_group`
    answers is in some published slice, the smallest such block (ties: by its slices) is
    merged with the block that costs least to join: every slice that tells the two apart
    is withdrawn. Cost: the answers those slices hold, then how many they are, then their
    names, so totals stay and small cells go. Joining the block of answers in no published
    slice is always possible (withdrawing every slice that holds it). Each step withdraws
    a slice, so this ends; it depends on the month's answers alone, never on the query."""
    answers = list(month)
    sizes = Counter(cut for answer in answers for cut in slices_of(answer))
    published = {cut for cut, size in sizes.items() if size >= min_group}
    while True:
        blocks: Counter[frozenset[Slice]] = Counter(
            slices_of(answer) & published for answer in answers
        )
        small = [block for block, size in blocks.items() if block and size < min_group]
        if not small:
            return frozenset(published)
        block = min(small, key=lambda b: (blocks[b], _names(b)))
        nowhere: frozenset[Slice] = frozenset()  # the answers in no published slice
        others = (set(blocks) | {nowhere}) - {block}
        target = min(others, key=lambda other: _cost_to_join(block, other, sizes))
        published -= block ^ target


def _cost_to_join(
    block: frozenset[Slice], other: frozenset[Slice], sizes: Mapping[Slice, int]
) -> tuple[int, int, list[tuple[str, str]]]:
    apart = block ^ other
    return (sum(sizes[cut] for cut in apart), len(apart), _names(apart))


def group_enps(
    answers: Iterable[EnpsAnswer], *, team: str | None, site: str | None, min_group: int
) -> EnpsResult:
    """eNPS of the answers of a team and/or a site (None: any) among `answers`, which are
    one per employee and within a window of whole months. Figures only when the slice is
    published (see `published_slices`) in every month of the window with answers in it:
    a window's figures are then sums of published months, which tell nothing more."""
    by_month: dict[str, list[EnpsAnswer]] = defaultdict(list)
    for answer in answers:
        by_month[answer.month].append(answer)
    wanted: Slice = (team, site)
    members: list[int] = []
    for month in by_month.values():
        in_slice = [a.score for a in month if _in_group(a, team, site)]
        if in_slice and wanted not in published_slices(month, min_group):
            return EnpsResult(enough_answers=False)
        members += in_slice
    return compute_enps(members, min_group)


def _in_group(answer: EnpsAnswer, team: str | None, site: str | None) -> bool:
    return (team is None or answer.team == team) and (site is None or answer.site == site)


def _names(slices: Set[Slice]) -> list[tuple[str, str]]:
    return sorted((team or "", site or "") for team, site in slices)


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
