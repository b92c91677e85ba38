"""The points consumer's batch handler: directory snapshots and events in, ledger entries,
state snapshots, `cercle.points.v1` messages and leaderboard projections out.

Order of the writes, each idempotent, so a crash or a redelivery at any point neither
loses nor doubles points:
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
missing its last second), it is rebuilt whole from MongoDB."""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer

from cercle_common.envelope import decode_json_object, parse_published
from cercle_common.errors import InfrastructureError, NotFound, ValidationError
from cercle_common.messaging import Record, Rejection, is_infrastructure_failure
from cercle_common.topics import EMPLOYEES, EVENTS, POINTS
from services.points.adapters.board_index import IndexWriter, LeaderboardIndex
from services.points.adapters.store import PointsStore
from services.points.domain.model import (
    UNPLACED,
    VISIBILITIES,
    DirectoryEntry,
    EmployeeState,
    Event,
    LedgerEntry,
    Placement,
)
from services.points.domain.rules import RuleSet
from services.points.domain.scoring import apply_events, check_event, check_instants

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


class PointsPublisher:
    """Publishes ledger entries on `cercle.points.v1` (key = employee id)."""

    def __init__(self, producer: KafkaProducer) -> None:
        self._producer = producer

    def publish(self, entries: Sequence[LedgerEntry]) -> None:
        """Send and wait for every acknowledgement."""
        if not entries:
            return
        futures = [
            self._producer.send(
                POINTS,
                key=entry.employee_id.encode(),
                value=json.dumps(entry.to_dict(), separators=(",", ":")).encode(),
            )
            for entry in entries
        ]
        self._producer.flush(timeout=30)
        # flush() waits but does not raise for a message the broker refused.
        failed = [future for future in futures if future.failed()]
        if failed:
            raise InfrastructureError(
                f"{len(failed)} points messages not published: {failed[0].exception}"
            ) from failed[0].exception

    def close(self) -> None:
        """Flush and close the producer."""
        self._producer.close(timeout=10)


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
        store: PointsStore,
        index: LeaderboardIndex,
        publisher: PointsPublisher | None,
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
