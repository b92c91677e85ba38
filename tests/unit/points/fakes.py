"""In-memory fakes of the points service's ports (`services/points/ports.py`).

Each subclasses its port, so mypy (`make lint` checks this file with `--strict`) reports a
fake drifting from the port the real adapter implements too; the contract suite
(`tests/integration/points/test_contracts.py`) runs each fake and its real adapter
through the same assertions. Beyond the port, a fake offers a few knobs for tests
(failures to inject) and records of what it was asked (for assertions)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from cercle_common.errors import InfrastructureError
from services.points.domain.model import (
    UNPLACED,
    DirectoryEntry,
    EmployeeState,
    LedgerEntry,
    Placement,
)
from services.points.domain.ranking import board_score, points_of
from services.points.ports import (
    BoardIndex,
    BoardRow,
    EntryPublisher,
    GroupTotals,
    IndexWriter,
    LedgerStore,
)


class FakeLedgerStore(LedgerStore):
    """The ledger, the state snapshots and the directory snapshots in dictionaries keyed
    as the MongoDB store's `_id`s are, so that the same writes collide the same way."""

    def __init__(self) -> None:
        self.ledger: dict[str, LedgerEntry] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.directory: dict[str, DirectoryEntry] = {}
        # Knobs: fail the next `fail_states` state writes; `down` fails every call.
        self.fail_states = 0
        self.down = False
        # Records: how many times the states were loaded, how many index creations.
        self.loads = 0
        self.index_creations = 0

    def _check(self) -> None:
        if self.down:
            raise InfrastructureError("MongoDB unavailable (fake)")

    def insert_ledger(self, entries: Iterable[LedgerEntry]) -> None:
        self._check()
        for entry in entries:
            self.ledger.setdefault(entry.id, entry)

    def insert_states(self, states: Iterable[EmployeeState]) -> None:
        self._check()
        if self.fail_states:
            self.fail_states -= 1
            raise InfrastructureError("MongoDB unavailable (fake)")
        for state in states:
            key = f"{state.employee_id}:{state.applied:012d}:{state.last_sequence:015d}"
            # Stored as text, as the real store does: nothing the caller keeps is shared.
            self.snapshots.setdefault(key, {"state": json.dumps(state.to_dict())})

    def insert_directory(self, entries: Iterable[DirectoryEntry]) -> None:
        self._check()
        for entry in entries:
            self.directory.setdefault(f"{entry.employee_id}:{entry.position:015d}", entry)

    def load_states(
        self, employee_ids: set[str] | None = None, compact: bool = False
    ) -> dict[str, EmployeeState]:
        self._check()
        self.loads += 1
        latest: dict[str, tuple[tuple[int, int], str]] = {}
        superseded: list[str] = []
        for key in self.snapshots:
            employee_id, applied, last_sequence = key.rsplit(":", 2)
            if employee_ids is not None and employee_id not in employee_ids:
                continue
            order = (int(applied), int(last_sequence))
            known = latest.get(employee_id)
            if known is None or order > known[0]:
                latest[employee_id] = (order, key)
                if known is not None:
                    superseded.append(known[1])
            else:
                superseded.append(key)
        if compact:
            for key in superseded:
                del self.snapshots[key]
        return {
            employee_id: EmployeeState.from_dict(json.loads(self.snapshots[key]["state"]))
            for employee_id, (_, key) in latest.items()
        }

    def load_directory(self) -> dict[str, DirectoryEntry]:
        self._check()
        latest: dict[str, DirectoryEntry] = {}
        for entry in self.directory.values():
            known = latest.get(entry.employee_id)
            if known is None or entry.position > known.position:
                latest[entry.employee_id] = entry
        return latest

    def erase(self, employee_id: str, keep_position: int) -> None:
        self._check()
        self.forget([employee_id])
        self.directory = {
            key: entry
            for key, entry in self.directory.items()
            if entry.employee_id != employee_id or entry.position == keep_position
        }

    def forget(self, employee_ids: Iterable[str]) -> None:
        self._check()
        ids = set(employee_ids)
        self.ledger = {k: v for k, v in self.ledger.items() if v.employee_id not in ids}
        self.snapshots = {k: v for k, v in self.snapshots.items() if k.rsplit(":", 2)[0] not in ids}

    def drop_scores(self) -> None:
        self._check()
        self.ledger.clear()
        self.snapshots.clear()

    def ensure_indexes(self) -> None:
        self._check()
        self.index_creations += 1

    def ledger_page(self, employee_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
        self._check()
        mine = [entry for entry in self.ledger.values() if entry.employee_id == employee_id]
        mine.sort(key=lambda entry: entry.id)
        mine.sort(key=lambda entry: entry.sequence, reverse=True)
        return [entry.to_dict() for entry in mine[offset : offset + limit]]

    def ledger_points(self) -> Iterator[tuple[str, int, datetime]]:
        self._check()
        for entry in list(self.ledger.values()):
            yield entry.employee_id, entry.points, entry.occurred_at

    def ledger_of(self, employee_ids: Iterable[str]) -> list[dict[str, Any]]:
        self._check()
        ids = set(employee_ids)
        return [entry.to_dict() for entry in self.ledger.values() if entry.employee_id in ids]

    def ping(self) -> None:
        self._check()


class FakeBoardIndex(BoardIndex):
    """The leaderboard index in dictionaries, laid out as the Redis one: boards of member ->
    score ordered as a sorted set (score, then member, highest first), every employee's
    totals, group member totals and sums of listed members, active member counts, the
    directory copy, and whether it is built."""

    def __init__(self) -> None:
        self.own: dict[str, dict[str, tuple[int, int]]] = {}
        self.boards: dict[str, dict[str, int]] = {}
        self.members: dict[str, dict[str, int]] = {}  # (group, period, name) key -> totals
        self.sums: dict[str, dict[str, int]] = {}  # (group, period) key -> name -> sum
        self.active_of: dict[str, tuple[str, str]] = {}
        self.active: dict[str, dict[str, int]] = {"team": {}, "site": {}}
        self.stored: dict[str, dict[str, str]] = {}
        self.built = True
        # Knob: `down` fails every call. Records: employees projected, moves, rebuilds.
        self.down = False
        self.projected: list[str] = []
        self.unplaced: list[tuple[str, Placement]] = []
        self.rebuilt: list[tuple[list[str], list[str]]] = []

    def _check(self) -> None:
        if self.down:
            raise InfrastructureError("Redis unavailable (fake)")

    # Writes -------------------------------------------------------------------------

    def write(self, build: Callable[[IndexWriter], None]) -> None:
        self._check()
        # Queued, then applied at once, as a pipeline is sent after `build` returns.
        queued: list[Callable[[], None]] = []
        build(_FakeWriter(self, queued))
        for write in queued:
            write()

    def clear(self) -> None:
        self._check()
        self.own.clear()
        self.boards.clear()
        self.members.clear()
        self.sums.clear()
        self.active_of.clear()
        self.active = {"team": {}, "site": {}}
        self.stored.clear()
        self.built = False

    def mark_built(self) -> None:
        self._check()
        self.built = True

    def project_all(
        self, states: Iterable[EmployeeState], directory: Iterable[DirectoryEntry]
    ) -> None:
        entries = list(directory)
        placements = {entry.employee_id: entry.placement() for entry in entries}
        items = list(states)

        def build(writer: IndexWriter) -> None:
            for entry in entries:
                writer.directory(entry)
            for state in items:
                rows = [(key, value[0], value[1]) for key, value in sorted(state.totals.items())]
                writer.project(state.employee_id, placements.get(state.employee_id, UNPLACED), rows)

        self.write(build)

    def rebuild(self, states: Iterable[EmployeeState], directory: Iterable[DirectoryEntry]) -> None:
        items, entries = list(states), list(directory)
        self.rebuilt.append(
            (sorted(s.employee_id for s in items), sorted(e.employee_id for e in entries))
        )
        self.clear()
        self.project_all(items, entries)
        self.mark_built()

    # Reads --------------------------------------------------------------------------

    def board_key(self, period_key: str, scope: str = "global", scope_id: str = "") -> str:
        if scope == "global":
            return f"lb:{period_key}"
        return f"lb:{period_key}:{scope}:{scope_id}"

    def _ranked(self, board: str) -> list[tuple[str, int]]:
        # A sorted set read highest first: by score, then by member, both descending.
        return sorted(self.boards.get(board, {}).items(), key=lambda row: (row[1], row[0]))[::-1]

    def page(self, board: str, offset: int, count: int) -> tuple[list[BoardRow], int]:
        self._check()
        ranked = self._ranked(board)
        rows = _sorted_set_range(ranked, offset, offset + count - 1)
        return [BoardRow(member, points_of(score)) for member, score in rows], len(ranked)

    def position(self, board: str, employee_id: str, score: int) -> int:
        self._check()
        ranked = self._ranked(board)
        for place, (member, _) in enumerate(ranked):
            if member == employee_id:
                return place
        return sum(1 for _, other in ranked if other > score)

    def totals(self, employee_id: str, period_keys: Sequence[str]) -> list[tuple[int, int]]:
        self._check()
        own = self.own.get(employee_id, {})
        return [own.get(key, (0, 0)) for key in period_keys]

    def all_totals(self, employee_id: str) -> dict[str, tuple[int, int]]:
        self._check()
        return dict(self.own.get(employee_id, {}))

    def period_keys_of(self, employee_ids: Sequence[str]) -> list[list[str]]:
        self._check()
        return [list(self.own.get(employee_id, {})) for employee_id in employee_ids]

    def directory(self, employee_ids: Sequence[str]) -> list[dict[str, str]]:
        self._check()
        return [dict(self.stored.get(employee_id, {})) for employee_id in employee_ids]

    def group_totals(self, group: str, period_key: str) -> GroupTotals:
        self._check()
        return GroupTotals(
            totals=dict(self.sums.get(f"{group}:{period_key}", {})),
            active={name: count for name, count in self.active[group].items() if count > 0},
        )

    def is_built(self) -> bool:
        self._check()
        return self.built

    def ping(self) -> None:
        self._check()

    # What the writer changes (the Lua scripts' steps) ---------------------------------

    def _groups(self, period_key: str, placement: Placement) -> list[tuple[str, str, str]]:
        """(member totals key, sums key, name) of the placement's team and site."""
        return [
            (f"{group}:{period_key}:{name}", f"{group}:{period_key}", name)
            for group, name in (("team", placement.team), ("site", placement.site))
            if name
        ]

    def _boards(self, period_key: str, placement: Placement) -> list[str]:
        boards = [self.board_key(period_key)]
        for scope, name in (("team", placement.team), ("site", placement.site)):
            if name:
                boards.append(self.board_key(period_key, scope, name))
        return boards

    def _leave_group(self, members_key: str, sums_key: str, name: str, employee_id: str) -> None:
        members = self.members.get(members_key, {})
        if employee_id not in members:
            return
        old = members.pop(employee_id)
        if not members:
            self.members.pop(members_key, None)
            self._remove_sum(sums_key, name)
        else:
            sums = self.sums.setdefault(sums_key, {})
            sums[name] = sums.get(name, 0) - old

    def _remove_sum(self, sums_key: str, name: str) -> None:
        sums = self.sums.get(sums_key, {})
        sums.pop(name, None)
        if not sums:
            self.sums.pop(sums_key, None)

    def _project(
        self, employee_id: str, placement: Placement, totals: list[tuple[str, int, int]]
    ) -> None:
        for period_key, points, sequence in totals:
            self.own.setdefault(employee_id, {})[period_key] = (points, sequence)
            for board in self._boards(period_key, placement):
                if placement.listed:
                    self.boards.setdefault(board, {})[employee_id] = board_score(points, sequence)
                else:
                    self._remove_from_board(board, employee_id)
            for members_key, sums_key, name in self._groups(period_key, placement):
                if placement.listed:
                    members = self.members.setdefault(members_key, {})
                    old = members.get(employee_id, 0)
                    members[employee_id] = points
                    sums = self.sums.setdefault(sums_key, {})
                    if old != points or name not in sums:
                        sums[name] = sums.get(name, 0) + points - old
                else:
                    self._leave_group(members_key, sums_key, name, employee_id)

    def _remove_from_board(self, board: str, employee_id: str) -> None:
        members = self.boards.get(board, {})
        members.pop(employee_id, None)
        if not members:
            self.boards.pop(board, None)

    def _unplace(self, employee_id: str, placement: Placement, period_keys: list[str]) -> None:
        for period_key in period_keys:
            for board in self._boards(period_key, placement):
                self._remove_from_board(board, employee_id)
            for members_key, sums_key, name in self._groups(period_key, placement):
                self._leave_group(members_key, sums_key, name, employee_id)

    def _directory(self, entry: DirectoryEntry) -> None:
        active: tuple[str, str] | None = None
        if entry.erased:
            self.stored.pop(entry.employee_id, None)
        else:
            self.stored[entry.employee_id] = {
                "team": entry.team,
                "site": entry.site,
                "visibility": entry.visibility,
                "pseudonym": entry.pseudonym,
                "active": "1" if entry.active else "0",
            }
            if entry.active and entry.listed:
                active = (entry.team, entry.site)
        old = self.active_of.get(entry.employee_id)
        if old == active:
            return
        for place, delta in ((old, -1), (active, 1)):
            if place is None:
                continue
            for group, name in zip(("team", "site"), place, strict=True):
                if name:
                    counts = self.active[group]
                    counts[name] = counts.get(name, 0) + delta
        if active is None:
            self.active_of.pop(entry.employee_id, None)
        else:
            self.active_of[entry.employee_id] = active

    def _forget_totals(self, employee_id: str) -> None:
        self.own.pop(employee_id, None)


def _sorted_set_range(rows: list[tuple[str, int]], start: int, stop: int) -> list[tuple[str, int]]:
    """`rows[start..stop]` with both ends inclusive and negative ones counted from the end,
    as ZRANGE and ZREVRANGE read them (so a page of 0 rows from the top is the whole board,
    as Redis answers `0 -1`)."""
    size = len(rows)
    start = max(size + start, 0) if start < 0 else start
    stop = size + stop if stop < 0 else stop
    if start > stop or start >= size:
        return []
    return rows[start : min(stop, size - 1) + 1]


class _FakeWriter(IndexWriter):
    def __init__(self, index: FakeBoardIndex, queued: list[Callable[[], None]]) -> None:
        self._index = index
        self._queued = queued

    def project(
        self, employee_id: str, placement: Placement, totals: Iterable[tuple[str, int, int]]
    ) -> None:
        self._index.projected.append(employee_id)
        rows = list(totals)
        if rows:
            self._queued.append(lambda: self._index._project(employee_id, placement, rows))

    def unplace(self, employee_id: str, placement: Placement, period_keys: Iterable[str]) -> None:
        self._index.unplaced.append((employee_id, placement))
        keys = list(period_keys)
        if keys:
            self._queued.append(lambda: self._index._unplace(employee_id, placement, keys))

    def directory(self, entry: DirectoryEntry) -> None:
        self._queued.append(lambda: self._index._directory(entry))

    def forget_totals(self, employee_id: str) -> None:
        self._queued.append(lambda: self._index._forget_totals(employee_id))


class FakeEntryPublisher(EntryPublisher):
    """Keeps what it publishes as the topic would: (key, value) in publishing order."""

    def __init__(self) -> None:
        self.sent: list[LedgerEntry] = []
        self.closed = False
        # Knob: `down` fails every publication (nothing is kept).
        self.down = False

    def publish(self, entries: Sequence[LedgerEntry]) -> None:
        if self.down:
            raise InfrastructureError("Kafka unavailable (fake)")
        self.sent.extend(entries)

    def close(self) -> None:
        self.closed = True

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """What a reader of `cercle.points.v1` would get: (key, decoded value)."""
        return [(entry.employee_id, entry.to_dict()) for entry in self.sent]
