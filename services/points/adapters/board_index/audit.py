"""The index side of `python -m services.points.entrypoints.check`: does the Redis index
say what the states and the directory (MongoDB) say? The employees' totals, their place
and score on the global, team and site boards, the team and site sums of listed members,
the active member counts, the directory copy and the board sizes. It reads the index's
keys themselves, so it lives with them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from services.points.adapters.board_index import LeaderboardIndex, redis_errors
from services.points.domain.integrity import Mismatch
from services.points.domain.model import DirectoryEntry, EmployeeState
from services.points.domain.ranking import board_score

_CHUNK = 500


def index_mismatches(
    index: LeaderboardIndex,
    states: dict[str, EmployeeState],
    directory: dict[str, DirectoryEntry],
) -> list[Mismatch]:
    """Every disagreement of the index with these states and directory entries."""
    found: list[Mismatch] = []
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
        own = index.totals_key("")
        indexed = {key[len(own) :] for key in index.client.scan_iter(f"{own}*")}
        for employee_id in sorted(indexed - set(states)):
            found.append(Mismatch(employee_id, "index totals without a state", "", "none", "some"))
        keys = sorted({key for state in states.values() for key in state.totals})
        pipe = index.client.pipeline(transaction=False)
        for key in keys:
            pipe.zcard(index.board_key(key))
            pipe.zrange(index.sums_key("team", key), 0, -1, withscores=True)
            pipe.zrange(index.sums_key("site", key), 0, -1, withscores=True)
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
    for chunk in _chunks(sorted(states)):
        pipe = index.client.pipeline(transaction=False)
        # Per employee, in the pipeline's order: (what, period key, expected or None).
        checks: dict[str, list[tuple[str, str, str | None]]] = {}
        for employee_id in chunk:
            pipe.hgetall(index.totals_key(employee_id))
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
                    pipe.hget(index.members_key("team", key, placement.team), employee_id)
                    mine += [("team board score", key, on_board), ("team sum part", key, in_group)]
                if placement is not None and placement.site:
                    pipe.zscore(index.board_key(key, "site", placement.site), employee_id)
                    pipe.hget(index.members_key("site", key, placement.site), employee_id)
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
            for name, count in index.client.hgetall(index.active_key(group)).items()
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
