"""Rebuild the ledger, the scores and the leaderboard index from the event history:
`python -m services.points.entrypoints.rescore [--rules FILE] [--employees e-1,e-2] [--index-only]`.

The history is read from the `cercle.events.v1` topic from offset 0 (its retention is
infinite: it is the log every score is replayed from), up to the end offsets seen when
the command starts; the directory from the compacted `cercle.employees.v1` the same way.
Events go through the very functions the consumer uses, in sequence order per employee,
so under the rules that were live the result equals the live state exactly, and under a
new rules version it is the new state as a whole (each ledger entry names its version).

Stop the points consumer while a rescore runs, and start it again afterwards: it reloads
the states, whose positions make it skip what the rescore already applied and go on
with the events published since. `--index-only` rebuilds Redis from MongoDB alone.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition

from cercle_common.jsonlog import configure_logging
from cercle_common.messaging import Record, client_options, is_infrastructure_failure
from cercle_common.mongo import connect
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.adapters.board_index import IndexWriter, LeaderboardIndex
from services.points.adapters.rules_file import DEFAULT_RULES, load_rules
from services.points.adapters.store import PointsStore
from services.points.domain.model import DirectoryEntry, EmployeeState, Event, LedgerEntry
from services.points.domain.rules import RuleSet
from services.points.domain.scoring import apply_events
from services.points.entrypoints.app import index_prefix
from services.points.handlers import directory_from_record, event_from_record, placement_of

log = logging.getLogger(__name__)

StartOffsets = dict[TopicPartition, int]


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


def read_topic(
    settings: Settings, topic: str, start_offsets: StartOffsets | None = None
) -> Iterator[Record]:
    """Every record of `topic` from `start_offsets` (default: offset 0) up to the end
    offsets at the time of the call, partition by partition."""
    consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, number)
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        for partition in partitions:
            start = (start_offsets or {}).get(partition)
            if start is None:
                consumer.seek_to_beginning(partition)
            else:
                consumer.seek(partition, start)
        remaining = {p for p in partitions if consumer.position(p) < ends[p]}
        while remaining:
            for partition, messages in consumer.poll(timeout_ms=1000, max_records=5000).items():
                for message in messages:
                    if message.offset < ends[partition]:
                        yield Record.from_message(message)
            remaining = {p for p in remaining if consumer.position(p) < ends[p]}
    finally:
        consumer.close(autocommit=False)


def final_directory(records: Iterator[Record]) -> dict[str, DirectoryEntry]:
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


@dataclass
class Replayed:
    """The states and ledger a replay produced, and how many repeated ids it dropped."""

    states: dict[str, EmployeeState]
    entries: list[LedgerEntry]
    duplicates: int


def replay(events: dict[str, list[Event]], rules: RuleSet, time_zone: str) -> Replayed:
    """Score every employee's history from an empty state. An id met again (published
    twice, under any sequence) counts once, at its first sequence: the whole history is
    at hand here, so no repeat escapes, however far apart."""
    states: dict[str, EmployeeState] = {}
    entries: list[LedgerEntry] = []
    duplicates = 0
    for employee_id, history in events.items():
        seen: set[str] = set()
        unique = []
        for event in sorted(history, key=lambda item: item.sequence):
            if event.id in seen:
                duplicates += 1
                continue
            seen.add(event.id)
            unique.append(event)
        state = EmployeeState(employee_id)
        entries.extend(apply_events(state, unique, rules, time_zone).entries)
        if state.applied:
            states[employee_id] = state
    return Replayed(states, entries, duplicates)


def rescore(
    settings: Settings,
    rules: RuleSet,
    employees: set[str] | None = None,
    start_offsets: StartOffsets | None = None,
    alias: str = "points-rescore",
) -> RescoreReport:
    """Rebuild ledger, states and index from the topics (for `employees` only, when
    given). `start_offsets` lets a test skip what others left on a shared topic."""
    report = RescoreReport(rules_version=rules.version)
    directory = final_directory(
        record
        for record in read_topic(settings, EMPLOYEES, start_offsets)
        if employees is None or record.key_text in employees
    )
    erased = {employee for employee, entry in directory.items() if entry.erased}
    report.erased = sorted(erased)
    events: dict[str, list[Event]] = defaultdict(list)
    for record in read_topic(settings, EVENTS, start_offsets):
        if employees is not None and record.key_text not in employees:
            continue
        try:
            event = event_from_record(record.value, settings.org_timezone)
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
    replayed = replay(events, rules, settings.org_timezone)
    states, entries = replayed.states, replayed.entries
    report.duplicates = replayed.duplicates
    report.employees = len(states)
    report.ledger_entries = len(entries)

    store = PointsStore(connect(settings, "points", alias=alias))
    index = LeaderboardIndex.from_url(settings.redis_url, index_prefix(settings))
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


def rebuild_index(settings: Settings, alias: str = "points-rescore") -> int:
    """Rebuild Redis from MongoDB alone (the source of truth); returns the employees."""
    store = PointsStore(connect(settings, "points", alias=alias))
    index = LeaderboardIndex.from_url(settings.redis_url, index_prefix(settings))
    states = store.load_states()
    directory = store.load_directory()
    index.rebuild(states.values(), directory.values())
    return len(states)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m services.points.entrypoints.rescore")
    parser.add_argument("--rules", default=str(DEFAULT_RULES), help="the rules file (YAML)")
    parser.add_argument("--employees", default="", help="comma-separated ids (default: all)")
    parser.add_argument("--index-only", action="store_true", help="only rebuild Redis from MongoDB")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging("points-rescore", settings.log_level)
    if args.index_only:
        print(f"index rebuilt for {rebuild_index(settings)} employees")
        return 0
    employees = {item for item in args.employees.split(",") if item} or None
    report = rescore(settings, load_rules(args.rules), employees)
    print(
        f"rules version {report.rules_version}: {report.events} events replayed "
        f"({report.skipped} skipped, {report.duplicates} repeated ids), "
        f"{report.employees} employees, "
        f"{report.ledger_entries} ledger entries, {len(report.erased)} erased"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
