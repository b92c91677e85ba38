"""The points service layer: every change to the ledger, the states and the leaderboard
index goes through here, whatever the door (the consumer's batches, the rescore and the
index rebuild of the command line), and so does every read the API answers. It works
through the ports (`ports.py`) only: `bootstrap.py` gives it the real adapters, the unit
tests their fakes.

The consumer's batch handler (`PointsProcessor`): directory snapshots and events in,
ledger entries, state snapshots, `cercle.points.v1` messages and leaderboard projections
out. Order of the writes, each idempotent, so a crash or a redelivery at any point
neither loses nor doubles points:
1. ledger entries (insert, `_id = <event id>:<rule id>`; duplicates ignored);
2. the ledger entries published on `cercle.points.v1` (consumers dedupe on `id`);
3. one state snapshot per employee holding its position (`last_sequence` and the ids
   recently applied) in the same document (insert, `_id = <employee>:<applied>:<seq>`);
4. the leaderboard projections (absolute SETs in Redis).
An event the employee's state records as applied (by id: see
`EmployeeState.was_applied`) changes nothing: only step 4 runs again for it. Computing
the entries is a pure function of (state, event, rules), so the entries of a batch
retried after a crash are the same, with the same ids.

The state of each employee is cached in memory: the local MongoDB-compatible server reads
a whole collection to find one document, while inserts are cheap. The cache is reloaded
from MongoDB whenever this consumer may have missed writes by another one: at start and
whenever a partition arrives that it did not process just before (rebalance).

The Redis index is checked before every batch and every `INDEX_CHECK_SECONDS` while idle
(`watch_index`): found not built on the running Redis (flushed, or restarted and maybe
missing its last second), it is rebuilt whole from MongoDB.

The rescore (`rescore_from_history`) replays the event history through the same core,
and `rebuild_index` rebuilds the index from the store alone; `PointsQueries` is the read
side (leaderboards, an employee's points and ledger)."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cercle_common.cursors import SignedCursors
from cercle_common.envelope import decode_json_object, parse_published
from cercle_common.errors import InfrastructureError, NotFound, ValidationError
from cercle_common.messaging import Record, Rejection, is_infrastructure_failure
from cercle_common.periods import PERIOD_KINDS, period_keys
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.domain.model import (
    HIDDEN,
    PSEUDONYM,
    UNPLACED,
    VISIBILITIES,
    DirectoryEntry,
    EmployeeState,
    Event,
    LedgerEntry,
    Placement,
)
from services.points.domain.ranking import board_score, resolve_period
from services.points.domain.rules import RuleSet
from services.points.domain.scoring import apply_events, check_event, check_instants, replay
from services.points.ports import BoardIndex, BoardRow, EntryPublisher, IndexWriter, LedgerStore

log = logging.getLogger(__name__)

INDEX_CHECK_SECONDS = 10.0


def event_from_record(value: bytes | None, time_zone: str) -> Event:
    """Parse a `cercle.events.v1` message; raises `ValidationError`/`MalformedRequest`."""
    envelope, sequence = parse_published(value)
    event = Event(
        id=envelope.id,
        type=envelope.type,
        employee_id=envelope.employee_id,
        occurred_at=envelope.occurred_at,
        sequence=sequence,
        data=envelope.data,
        accepted_at=envelope.accepted_at,
    )
    check_event(event)
    check_instants(event, time_zone)
    return event


def directory_from_record(key: str | None, value: bytes | None, position: int) -> DirectoryEntry:
    """Parse a `cercle.employees.v1` snapshot (a null value erases the employee)."""
    if not key:
        raise ValidationError("a directory message needs the employee id as key", "key")
    if value is None:
        return DirectoryEntry(employee_id=key, position=position, erased=True)
    body = decode_json_object(value)
    employee_id = body.get("employee_id", key)
    if employee_id != key:
        raise ValidationError("differs from the message key", "employee_id")
    visibility = body.get("visibility") or "visible"
    if visibility not in VISIBILITIES:
        raise ValidationError(f"must be one of {', '.join(VISIBILITIES)}", "visibility")
    texts = {}
    for name in ("team", "site", "pseudonym"):
        text = body.get(name)
        if text is not None and not isinstance(text, str):
            raise ValidationError("must be a string or null", name)
        texts[name] = text or ""
    active = body.get("active")
    active = True if active is None else active
    if not isinstance(active, bool):
        raise ValidationError("must be true or false", "active")
    return DirectoryEntry(
        employee_id=key,
        position=position,
        team=texts["team"],
        site=texts["site"],
        visibility=visibility,
        pseudonym=texts["pseudonym"],
        active=active,
    )


@dataclass
class _Batch:
    rejections: list[Rejection] = field(default_factory=list)
    events: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))
    records: dict[str, Record] = field(default_factory=dict)  # event id -> its record
    directory: list[DirectoryEntry] = field(default_factory=list)


class PointsProcessor:
    """The batch handler given to `ConsumerLoop` (see the module docstring)."""

    def __init__(
        self,
        store: LedgerStore,
        index: BoardIndex,
        publisher: EntryPublisher | None,
        rules: RuleSet,
        time_zone: str,
    ) -> None:
        self.store = store
        self.index = index
        self.publisher = publisher
        self.rules = rules
        self.time_zone = time_zone
        self.states: dict[str, EmployeeState] = {}
        self.directory: dict[str, DirectoryEntry] = {}
        self._next_offsets: dict[tuple[str, int], int] = {}
        self._loaded = False
        self._needs_reload = False
        self.assignment: set[Any] = set()
        # Publishing, the index and the ledger are written side by side (see _apply_events).
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="points-io")
        # Batches and the idle index check share the cache and the index.
        self._lock = threading.Lock()

    def handle_batch(self, records: Sequence[Record]) -> list[Rejection]:
        """Apply one polled batch; returns the records refused as bad data."""
        with self._lock:
            self._reload_if_stale(records)
            self._ensure_index()
            batch = self._parse(records)
            self._apply_directory(batch.directory)
            self._apply_events(batch)
            for record in records:
                partition = (record.topic, record.partition)
                self._next_offsets[partition] = max(
                    self._next_offsets.get(partition, 0), record.offset + 1
                )
            return batch.rejections

    def check_index(self) -> bool:
        """Rebuild the whole Redis index from MongoDB unless it was built on the running
        Redis; True when it rebuilt."""
        with self._lock:
            return self._ensure_index()

    def watch_index(
        self, stop: threading.Event, interval: float = INDEX_CHECK_SECONDS
    ) -> threading.Thread:
        """Check the index every `interval` seconds in a thread until `stop` is set, so an
        index lost while no message arrives comes back too."""

        def watch() -> None:
            while not stop.wait(interval):
                try:
                    self.check_index()
                except InfrastructureError as error:
                    log.warning("index check failed, will retry", extra={"error": str(error)})

        thread = threading.Thread(target=watch, name="points-index-watch", daemon=True)
        thread.start()
        return thread

    def _ensure_index(self) -> bool:
        if self.index.is_built():
            return False
        log.warning("leaderboard index not built on this Redis: rebuilding it from MongoDB")
        self.reload()
        self.index.rebuild(self.states.values(), self.directory.values())
        log.info("leaderboard index rebuilt", extra={"employees": len(self.states)})
        return True

    def reload(self) -> None:
        """Read the committed states and directory from MongoDB into the cache."""
        self.states = self.store.load_states(compact=True)
        self.directory = self.store.load_directory()
        self._loaded = True
        log.info(
            "state cache loaded",
            extra={"employees": len(self.states), "directory": len(self.directory)},
        )

    def partitions_assigned(self, partitions: set[Any]) -> None:
        """Rebalance hook: partitions may arrive that another consumer processed, so the
        cache is reloaded before the next batch (there, so that an outage is retried)."""
        self.assignment = set(partitions)
        self._needs_reload = True
        self._next_offsets.clear()

    def _reload_if_stale(self, records: Sequence[Record]) -> None:
        # A partition of the events topic that jumped ahead was processed by another
        # consumer in the meantime (the compacted directory topic has gaps of its own).
        first: dict[tuple[str, int], int] = {}
        for record in records:
            if record.topic == EVENTS:
                partition = (record.topic, record.partition)
                first[partition] = min(first.get(partition, record.offset), record.offset)
        jumped = any(
            offset > self._next_offsets.get(partition, -1) >= 0
            for partition, offset in first.items()
        )
        if jumped or self._needs_reload or not self._loaded:
            self.reload()
            self._needs_reload = False

    def _parse(self, records: Sequence[Record]) -> _Batch:
        batch = _Batch()
        for record in records:
            try:
                if record.topic == EMPLOYEES:
                    batch.directory.append(
                        directory_from_record(record.key_text, record.value, record.offset)
                    )
                elif record.topic == EVENTS:
                    event = event_from_record(record.value, self.time_zone)
                    known = self.directory.get(event.employee_id)
                    if known is not None and known.erased:
                        raise NotFound("the employee was erased", "employee_id")
                    batch.events[event.employee_id].append(event)
                    batch.records[event.id] = record
                else:
                    raise ValidationError(f"unexpected topic {record.topic}", "topic")
            except Exception as error:
                if is_infrastructure_failure(error):
                    raise
                batch.rejections.append(Rejection(record, error))
        return batch

    def _apply_directory(self, entries: list[DirectoryEntry]) -> None:
        if not entries:
            return
        latest: dict[str, DirectoryEntry] = {}
        for entry in entries:
            known = latest.get(entry.employee_id)
            if known is None or entry.position >= known.position:
                latest[entry.employee_id] = entry
        self.store.insert_directory(latest.values())
        employees = list(latest)
        stored = self.index.directory(employees)
        indexed_keys = self.index.period_keys_of(employees)
        moves = []
        for employee_id, before, keys in zip(employees, stored, indexed_keys, strict=True):
            state = self.states.get(employee_id)
            period_keys = set(keys) | (set(state.totals) if state is not None else set())
            moves.append((latest[employee_id], placement_of(before), period_keys, state))

        def build(writer: IndexWriter) -> None:
            for entry, old, keys, state in moves:
                new = entry.placement()
                if old != new:
                    writer.unplace(entry.employee_id, old, sorted(keys))
                if entry.erased:
                    writer.forget_totals(entry.employee_id)
                elif state is not None:
                    writer.project(entry.employee_id, new, _rows(state, state.totals))
                # Written after the moves: a broken pipeline leaves the old placement on
                # record, so the retry moves the scores again.
                writer.directory(entry)

        self.index.write(build)
        for employee_id, entry in latest.items():
            if entry.erased:
                self.store.erase(employee_id, keep_position=entry.position)
                self.states.pop(employee_id, None)
            self.directory[employee_id] = entry

    def _apply_events(self, batch: _Batch) -> None:
        # A tombstone in the same batch erased these employees: their events go nowhere.
        for employee_id in list(batch.events):
            known = self.directory.get(employee_id)
            if known is not None and known.erased:
                for event in batch.events.pop(employee_id):
                    error = NotFound("the employee was erased", "employee_id")
                    batch.rejections.append(Rejection(batch.records[event.id], error))
        if not batch.events:
            return
        entries: list[LedgerEntry] = []
        changed: list[EmployeeState] = []
        touched: dict[str, tuple[EmployeeState, set[str]]] = {}
        for employee_id, events in batch.events.items():
            before = self.states.get(employee_id) or EmployeeState(employee_id)
            state = before.copy()
            scored = apply_events(state, events, self.rules, self.time_zone)
            entries.extend(scored.entries)
            if scored.behind_position:
                log.warning(
                    "events applied behind the position (new ids at an old sequence)",
                    extra={"employee_id": employee_id, "event_ids": scored.behind_position},
                )
            if scored.already_applied:
                log.info(
                    "events already applied, skipped",
                    extra={"employee_id": employee_id, "count": len(scored.already_applied)},
                )
            if state.applied != before.applied:
                changed.append(state)
            touched[employee_id] = (state, scored.touched)

        def build(writer: IndexWriter) -> None:
            for employee_id, (state, keys) in touched.items():
                entry = self.directory.get(employee_id)
                placement = entry.placement() if entry is not None else UNPLACED
                writer.project(employee_id, placement, _rows(state, keys))

        # The ledger, the published entries and the projections only have to be written
        # before the state snapshot that marks the events applied: if anything fails
        # before it, the retry computes the same entries and totals and writes them again.
        waiting = [self._io.submit(self.index.write, build)]
        if self.publisher is not None:
            waiting.append(self._io.submit(self.publisher.publish, entries))
        try:
            self.store.insert_ledger(entries)
        finally:
            for future in waiting:
                future.result()
        self.store.insert_states(changed)
        for state in changed:
            self.states[state.employee_id] = state


def _rows(state: EmployeeState, keys: Any) -> list[tuple[str, int, int]]:
    return [
        (key, state.totals[key][0], state.totals[key][1])
        for key in sorted(keys)
        if key in state.totals
    ]


def placement_of(stored: dict[str, str]) -> Placement:
    """The placement recorded in the index's copy of the directory."""
    if not stored:
        return UNPLACED
    return Placement(
        team=stored.get("team", ""),
        site=stored.get("site", ""),
        listed=stored.get("visibility", "visible") != "hidden",
    )


# The rescore and the index rebuild ------------------------------------------------------


@dataclass
class RescoreReport:
    """What a rescore did."""

    events: int = 0
    skipped: int = 0
    duplicates: int = 0
    employees: int = 0
    ledger_entries: int = 0
    rules_version: int = 0
    erased: list[str] = field(default_factory=list)


def final_directory(records: Iterable[Record]) -> dict[str, DirectoryEntry]:
    """The latest directory snapshot of each employee (bad snapshots are skipped, as the
    consumer dead-letters them)."""
    latest: dict[str, DirectoryEntry] = {}
    for record in records:
        try:
            entry = directory_from_record(record.key_text, record.value, record.offset)
        except Exception as error:
            if is_infrastructure_failure(error):
                raise
            continue
        known = latest.get(entry.employee_id)
        if known is None or entry.position >= known.position:
            latest[entry.employee_id] = entry
    return latest


def rescore_from_history(
    store: LedgerStore,
    index: BoardIndex,
    rules: RuleSet,
    time_zone: str,
    directory_records: Iterable[Record],
    event_records: Iterable[Record],
    employees: set[str] | None = None,
) -> RescoreReport:
    """Rebuild ledger, states and index from the history (`cercle.employees.v1`, read
    first, then `cercle.events.v1`), for `employees` only when given: each employee's
    events in sequence order through the core the consumer uses, each id once."""
    report = RescoreReport(rules_version=rules.version)
    directory = final_directory(
        record for record in directory_records if employees is None or record.key_text in employees
    )
    erased = {employee for employee, entry in directory.items() if entry.erased}
    report.erased = sorted(erased)
    events: dict[str, list[Event]] = defaultdict(list)
    for record in event_records:
        if employees is not None and record.key_text not in employees:
            continue
        try:
            event = event_from_record(record.value, time_zone)
        except Exception as error:
            if is_infrastructure_failure(error):
                raise
            report.skipped += 1
            continue
        if event.employee_id in erased or (
            employees is not None and event.employee_id not in employees
        ):
            report.skipped += 1
            continue
        events[event.employee_id].append(event)
        report.events += 1
    replayed = replay(events, rules, time_zone)
    states, entries = replayed.states, replayed.entries
    report.duplicates = replayed.duplicates
    report.employees = len(states)
    report.ledger_entries = len(entries)

    touched = set(states) | set(directory) | (employees or set())
    if employees is None:
        store.drop_scores()
    else:
        store.forget(touched)
        stored_directory = index.directory(sorted(touched))
        old = {
            employee: (placement_of(stored), index.all_totals(employee))
            for employee, stored in zip(sorted(touched), stored_directory, strict=True)
        }

        def unplace(writer: IndexWriter) -> None:
            for employee, (placement, totals) in old.items():
                writer.unplace(employee, placement, sorted(totals))
                writer.forget_totals(employee)

        index.write(unplace)
    store.ensure_indexes()
    store.insert_ledger(entries)
    store.insert_states(states.values())
    store.insert_directory(directory.values())
    for employee in erased:
        store.erase(employee, keep_position=directory[employee].position)
    if employees is None:
        index.rebuild(states.values(), directory.values())
    else:
        index.project_all(states.values(), directory.values())
    return report


def rebuild_index(store: LedgerStore, index: BoardIndex) -> int:
    """Rebuild the whole index from the store alone (the source of truth); returns the
    number of employees with a state."""
    states = store.load_states()
    directory = store.load_directory()
    index.rebuild(states.values(), directory.values())
    return len(states)


# The read side --------------------------------------------------------------------------

SCOPES = ("global", "team", "site")
NORMALIZATIONS = ("total", "per_active_member")
_LEDGER_FIELDS = (
    "id",
    "event_id",
    "event_type",
    "rule_id",
    "rules_version",
    "points",
    "explanation",
    "occurred_at",
    "sequence",
    "reverses",
)


@dataclass(frozen=True)
class BoardQuery:
    """An employee leaderboard request, already checked."""

    period: str
    at: str | None
    scope: str = "global"
    team_id: str | None = None
    site_id: str | None = None


@dataclass(frozen=True)
class _Board:
    """A board as the index names it (`key`) and as its cursors name it (`list_id`)."""

    key: str
    list_id: str


class PointsQueries:
    """Answers the HTTP API's questions. Every leaderboard answer comes from the index in
    O(log n + page); nothing here scans the employees."""

    def __init__(
        self, index: BoardIndex, store: LedgerStore, time_zone: str, cursors: SignedCursors
    ) -> None:
        self.index = index
        self.store = store
        self.time_zone = time_zone
        # Opaque, authenticated page cursors, each valid for its own list only.
        self.cursors = cursors

    def employees_board(
        self, query: BoardQuery, first: int, after: str | None, now: datetime
    ) -> dict[str, Any]:
        """Top of an employee leaderboard, a page at a time."""
        period = resolve_period(query.period, query.at, self.time_zone, now)
        board = self._board(period.key, query.scope, query.team_id, query.site_id)
        offset = self.cursors.open_offset(board.list_id, after)
        rows, size = self.index.page(board.key, offset, first)
        return {
            "period": period.kind,
            "period_key": period.key,
            "scope": query.scope,
            "entries": self._entries(rows, offset),
            "page_info": self._page_info(board.list_id, offset, len(rows), size),
            "total_count": size,
        }

    def around(
        self, employee_id: str, query: BoardQuery, radius: int, now: datetime
    ) -> dict[str, Any]:
        """An employee's own rank (hidden employees too) and their neighbours."""
        known = self.index.directory([employee_id])[0]
        period = resolve_period(query.period, query.at, self.time_zone, now)
        ((points, reached),) = self.index.totals(employee_id, [period.key])
        if not known and not points:
            raise NotFound(f"no employee {employee_id} on the leaderboards", "employee_id")
        team_id = query.team_id or (known.get("team") if query.scope == "team" else None)
        site_id = query.site_id or (known.get("site") if query.scope == "site" else None)
        board = self._board(period.key, query.scope, team_id, site_id)
        # Without points the employee stands after everyone who has some.
        score = board_score(points, reached if points else 2**32 - 1)
        position = self.index.position(board.key, employee_id, score)
        start = max(position - radius, 0)
        listed = known.get("visibility") != HIDDEN and bool(known)
        count = position - start + radius + (1 if listed else 0)
        rows, _ = self.index.page(board.key, start, count)
        entries = self._entries(rows, start)
        if not listed:
            entries = [entry for entry in entries if entry["employee_id"] != employee_id]
        return {
            "employee_id": employee_id,
            "period": period.kind,
            "period_key": period.key,
            "scope": query.scope,
            "rank": position + 1,
            "points": points,
            # False for a hidden employee: `rank` is where they would stand, and the
            # entry at that rank is someone else's.
            "listed": listed,
            "entries": entries,
        }

    def groups_board(
        self,
        group: str,
        period_name: str,
        at: str | None,
        normalize: str,
        first: int,
        after: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """Teams (or sites) ranked by total points or points per active member; a small
        team can beat a large one on the latter. Ties: by name, for a stable order."""
        if normalize not in NORMALIZATIONS:
            raise ValidationError(f"must be one of {', '.join(NORMALIZATIONS)}", "normalize")
        period = resolve_period(period_name, at, self.time_zone, now)
        groups_list = f"{group}:{period.key}:{normalize}"
        offset = self.cursors.open_offset(groups_list, after)
        data = self.index.group_totals(group, period.key)
        names = set(data.totals) | set(data.active)
        rows = []
        for name in names:
            points = data.totals.get(name, 0)
            active = data.active.get(name, 0)
            if normalize == "total":
                score: float = points
            else:
                score = round(points / active, 2) if active else 0.0
            rows.append((name, points, active, score))
        rows.sort(key=lambda row: (-row[3], -row[1], row[0]))
        page = rows[offset : offset + first]
        id_field = f"{group}_id"
        return {
            "period": period.kind,
            "period_key": period.key,
            "normalize": normalize,
            "entries": [
                {
                    "rank": offset + index + 1,
                    id_field: name,
                    "points": points,
                    "active_members": active,
                    "score": score,
                }
                for index, (name, points, active, score) in enumerate(page)
            ],
            "page_info": self._page_info(groups_list, offset, len(page), len(rows)),
            "total_count": len(rows),
        }

    def employee_points(self, employee_id: str, now: datetime) -> dict[str, Any]:
        """An employee's points in every current period."""
        known = self.index.directory([employee_id])[0]
        keys = period_keys(now, self.time_zone).as_dict()
        totals = self.index.totals(employee_id, [keys[kind] for kind in PERIOD_KINDS])
        if not known and not any(points for points, _ in totals):
            raise NotFound(f"no employee {employee_id} known to the points service", "employee_id")
        return {
            "employee_id": employee_id,
            "points": {kind: total[0] for kind, total in zip(PERIOD_KINDS, totals, strict=True)},
            "period_keys": keys,
        }

    def ledger(self, employee_id: str, first: int, after: str | None) -> dict[str, Any]:
        """An employee's ledger, newest first."""
        ledger = f"ledger:{employee_id}"
        offset = self.cursors.open_offset(ledger, after)
        rows = self.store.ledger_page(employee_id, offset, first + 1)
        has_next = len(rows) > first
        rows = rows[:first]
        entries = [{key: row[key] for key in _LEDGER_FIELDS} for row in rows]
        return {
            "employee_id": employee_id,
            "entries": entries,
            "page_info": {
                "has_next_page": has_next,
                "end_cursor": self.cursors.seal(ledger, offset + len(rows)) if rows else None,
            },
        }

    def _page_info(self, list_id: str, offset: int, returned: int, size: int) -> dict[str, Any]:
        end = offset + returned
        return {
            "has_next_page": end < size,
            "end_cursor": self.cursors.seal(list_id, end) if returned else None,
        }

    def _board(
        self, period_key: str, scope: str, team_id: str | None, site_id: str | None
    ) -> _Board:
        if scope not in SCOPES:
            raise ValidationError(f"must be one of {', '.join(SCOPES)}", "scope")
        if scope == "global":
            return _Board(self.index.board_key(period_key), f"lb:{period_key}")
        scope_id = team_id if scope == "team" else site_id
        if not scope_id:
            raise ValidationError(f"is required when scope is {scope}", f"{scope}_id")
        return _Board(
            self.index.board_key(period_key, scope, scope_id),
            f"lb:{period_key}:{scope}:{scope_id}",
        )

    def _entries(self, rows: list[BoardRow], offset: int) -> list[dict[str, Any]]:
        directory = self.index.directory([row.member for row in rows])
        entries = []
        for index, (row, known) in enumerate(zip(rows, directory, strict=True)):
            pseudonymous = known.get("visibility") == PSEUDONYM
            entries.append(
                {
                    "rank": offset + index + 1,
                    "employee_id": None if pseudonymous else row.member,
                    "pseudonym": (known.get("pseudonym") or None) if pseudonymous else None,
                    "points": row.points,
                }
            )
        return entries
