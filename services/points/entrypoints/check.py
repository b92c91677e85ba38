"""Check that the points service agrees with itself: `python -m services.points.entrypoints.check`.

For every employee: each period total of the state (MongoDB) equals the sum of the
ledger entries in that period, and the Redis index says what the states and directory
say (the employee's totals, their place and score on the global/team/site boards, the
team and site sums of listed members, the active member counts, the directory copy).
Exit status 0 when everything matches, 1 otherwise; the figures and the first
mismatches are printed. Run it on a quiet system (consumer caught up): a batch in flight
writes the index and the ledger before its state snapshot.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import mongoengine

from cercle_common.mongo import connect
from cercle_common.periods import period_keys
from cercle_common.settings import Settings
from services.points.adapters.board_index import LeaderboardIndex, redis_errors
from services.points.adapters.store import PointsStore
from services.points.domain.model import DirectoryEntry, EmployeeState
from services.points.domain.ranking import board_score
from services.points.entrypoints.app import index_prefix

SHOWN_MISMATCHES = 10
_CHUNK = 500


@dataclass(frozen=True)
class Mismatch:
    """One disagreement: `subject` (an employee, team or site) and `what` was compared,
    in which period, what the source of truth says and what was found."""

    subject: str
    what: str
    period_key: str
    expected: str
    found: str

    def __str__(self) -> str:
        period = f" [{self.period_key}]" if self.period_key else ""
        return f"{self.subject}: {self.what}{period}: expected {self.expected}, found {self.found}"


@dataclass
class CheckReport:
    """The figures of one check and every mismatch found."""

    employees: int = 0
    ledger_entries: int = 0
    period_totals: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing disagrees."""
        return not self.mismatches

    def lines(self, shown: int = SHOWN_MISMATCHES) -> list[str]:
        """The printed summary."""
        lines = [
            f"employees checked: {self.employees}",
            f"ledger entries: {self.ledger_entries}",
            f"period totals compared: {self.period_totals}",
            f"mismatches: {len(self.mismatches)}",
        ]
        lines += [f"  {mismatch}" for mismatch in self.mismatches[:shown]]
        if len(self.mismatches) > shown:
            lines.append(f"  ... and {len(self.mismatches) - shown} more")
        return lines


def check_points(store: PointsStore, index: LeaderboardIndex, time_zone: str) -> CheckReport:
    """Compare states with the ledger, and the index with states and directory."""
    report = CheckReport()
    states = store.load_states()
    directory = store.load_directory()
    ledger: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for employee_id, points, occurred_at in store.ledger_points():
        report.ledger_entries += 1
        for key in period_keys(occurred_at, time_zone).as_dict().values():
            ledger[employee_id][key] += points
    employees = sorted(set(states) | set(ledger))
    report.employees = len(employees)
    for employee_id in employees:
        state = states.get(employee_id)
        totals = state.totals if state is not None else {}
        sums = ledger.get(employee_id, {})
        for key in sorted(set(totals) | set(sums)):
            report.period_totals += 1
            expected, found = sums.get(key, 0), totals.get(key, [0, 0])[0]
            if expected != found:
                what = "state total vs ledger sum"
                report.mismatches.append(
                    Mismatch(employee_id, what, key, str(expected), str(found))
                )
    report.mismatches += _index_mismatches(index, states, directory)
    return report


def _index_mismatches(
    index: LeaderboardIndex,
    states: dict[str, EmployeeState],
    directory: dict[str, DirectoryEntry],
) -> list[Mismatch]:
    found: list[Mismatch] = []
    prefix = index.prefix
    placements = {employee_id: entry.placement() for employee_id, entry in directory.items()}
    # What the index should hold, from the states and the directory.
    board_sizes: dict[str, int] = defaultdict(int)
    group_sums: dict[tuple[str, str, str], int] = defaultdict(int)  # (group, period, name)
    for state in states.values():
        placement = placements.get(state.employee_id)
        if placement is None or not placement.listed:
            continue
        for key, (points, _) in state.totals.items():
            board_sizes[key] += 1
            if placement.team:
                group_sums[("team", key, placement.team)] += points
            if placement.site:
                group_sums[("site", key, placement.site)] += points

    with redis_errors():
        found += _employee_mismatches(index, states, placements)
        found += _directory_mismatches(index, directory)
        indexed = {key[len(prefix) + 4 :] for key in index.client.scan_iter(f"{prefix}pts:*")}
        for employee_id in sorted(indexed - set(states)):
            found.append(Mismatch(employee_id, "index totals without a state", "", "none", "some"))
        keys = sorted({key for state in states.values() for key in state.totals})
        pipe = index.client.pipeline(transaction=False)
        for key in keys:
            pipe.zcard(index.board_key(key))
            pipe.zrange(f"{prefix}teams:{key}", 0, -1, withscores=True)
            pipe.zrange(f"{prefix}sites:{key}", 0, -1, withscores=True)
        answers = iter(pipe.execute())
        for key in keys:
            size = int(next(answers))
            if size != board_sizes[key]:
                wanted = str(board_sizes[key])
                found.append(Mismatch("global board", "size", key, wanted, str(size)))
            for group in ("team", "site"):
                stored = {name: round(score) for name, score in next(answers)}
                expected = {
                    name: total
                    for (kind, period, name), total in group_sums.items()
                    if kind == group and period == key
                }
                for name in sorted(set(stored) | set(expected)):
                    if stored.get(name, 0) != expected.get(name, 0):
                        found.append(
                            Mismatch(
                                f"{group} {name}",
                                "sum of listed members",
                                key,
                                str(expected.get(name, 0)),
                                str(stored.get(name, 0)),
                            )
                        )
    return found


def _employee_mismatches(
    index: LeaderboardIndex, states: dict[str, EmployeeState], placements: dict[str, Any]
) -> Iterator[Mismatch]:
    prefix = index.prefix
    for chunk in _chunks(sorted(states)):
        pipe = index.client.pipeline(transaction=False)
        # Per employee, in the pipeline's order: (what, period key, expected or None).
        checks: dict[str, list[tuple[str, str, str | None]]] = {}
        for employee_id in chunk:
            pipe.hgetall(f"{prefix}pts:{employee_id}")
            placement = placements.get(employee_id)
            listed = placement is not None and placement.listed
            mine = checks[employee_id] = []
            for key, (points, reached) in sorted(states[employee_id].totals.items()):
                on_board = str(board_score(points, reached)) if listed else None
                in_group = str(points) if listed else None
                pipe.zscore(index.board_key(key), employee_id)
                mine.append(("global board score", key, on_board))
                if placement is not None and placement.team:
                    pipe.zscore(index.board_key(key, "team", placement.team), employee_id)
                    pipe.hget(f"{prefix}tm:{key}:{placement.team}", employee_id)
                    mine += [("team board score", key, on_board), ("team sum part", key, in_group)]
                if placement is not None and placement.site:
                    pipe.zscore(index.board_key(key, "site", placement.site), employee_id)
                    pipe.hget(f"{prefix}sm:{key}:{placement.site}", employee_id)
                    mine += [("site board score", key, on_board), ("site sum part", key, in_group)]
        answers = iter(pipe.execute())
        for employee_id in chunk:
            stored = next(answers)
            expected = {
                key: f"{points}:{reached}"
                for key, (points, reached) in states[employee_id].totals.items()
            }
            for key in sorted(set(expected) | set(stored)):
                if expected.get(key) != stored.get(key):
                    wanted, value = str(expected.get(key)), str(stored.get(key))
                    yield Mismatch(employee_id, "index totals", key, wanted, value)
            for what, key, should_be in checks[employee_id]:
                yield from _compare(employee_id, what, key, should_be, next(answers))


def _compare(
    employee_id: str, what: str, key: str, expected: str | None, answer: Any
) -> Iterator[Mismatch]:
    value = None if answer is None else str(round(float(answer)))
    if value != expected:
        yield Mismatch(employee_id, what, key, expected or "absent", value or "absent")


def _directory_mismatches(
    index: LeaderboardIndex, directory: dict[str, DirectoryEntry]
) -> Iterator[Mismatch]:
    prefix = index.prefix
    expected_active: dict[str, dict[str, int]] = {
        "team": defaultdict(int),
        "site": defaultdict(int),
    }
    for entry in directory.values():
        if entry.listed and entry.active:
            for group, name in (("team", entry.team), ("site", entry.site)):
                if name:
                    expected_active[group][name] += 1
    for chunk in _chunks(sorted(directory)):
        stored = index.directory(chunk)
        for employee_id, fields in zip(chunk, stored, strict=True):
            entry = directory[employee_id]
            expected = (
                {}
                if entry.erased
                else {
                    "team": entry.team,
                    "site": entry.site,
                    "visibility": entry.visibility,
                    "pseudonym": entry.pseudonym,
                    "active": "1" if entry.active else "0",
                }
            )
            if fields != expected:
                yield Mismatch(employee_id, "directory copy", "", str(expected), str(fields))
    for group in ("team", "site"):
        counts = {
            name: int(count)
            for name, count in index.client.hgetall(f"{prefix}active:{group}").items()
            if int(count)
        }
        wanted = dict(expected_active[group])
        for name in sorted(set(counts) | set(wanted)):
            if counts.get(name, 0) != wanted.get(name, 0):
                yield Mismatch(
                    f"{group} {name}",
                    "active listed members",
                    "",
                    str(wanted.get(name, 0)),
                    str(counts.get(name, 0)),
                )


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def run_check(settings: Settings, alias: str = "points-check") -> CheckReport:
    """`check_points` on the configured MongoDB and Redis."""
    store = PointsStore(connect(settings, "points", alias=alias))
    index = LeaderboardIndex.from_url(settings.redis_url, index_prefix(settings))
    try:
        return check_points(store, index, settings.org_timezone)
    finally:
        index.client.close()
        mongoengine.disconnect(alias=alias)


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 1 on any mismatch."""
    del argv
    report = run_check(Settings.from_env())
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
