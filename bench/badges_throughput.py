"""Badges consumer throughput at several organisation sizes, each against the raw limit
of the same stack measured in the same run.

    source <stack env> && .venv/bin/python bench/badges_throughput.py \
        [--employees 500,2000] [--events 4000]

For each size N (employees), with a database prefix of its own:
1. Warm-up: publishes N directory snapshots and one share per employee (with its ledger
   entry), and runs the badges consumer over them, so that every employee has a state,
   awards and a directory entry before the measure (timed apart).
2. Publishes the measured facts: `--events` events of a realistic mix over the N
   employees on `cercle.events.v1`, and the ledger entries the points service gives
   them on `cercle.points.v1`.
3. Raw limit: the measured messages consumed with kafka-python, and per poll batch one
   unordered pymongo bulk insert holding one document per message.
4. The badges consumer (the real batch handler: states, awards, `cercle.badges.v1`, in
   a consumer group of its own, as `python -m services.badges.entrypoints.consumer` builds it) over
   the same measured facts.
Prints, per size, both rates and their ratio; then the consumer's rate at each size
against the smallest. The goal: the rate does not fall as the organisation grows (within
20 %). Everything it writes to MongoDB lives under its own prefix and is removed at the
end (the messages stay on the topics, whose retention is the log's)."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from pymongo import MongoClient

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cercle_common.envelope import Envelope
from cercle_common.messaging import (
    ConsumerLoop,
    Record,
    Rejection,
    client_options,
    end_offsets,
    make_producer,
)
from cercle_common.mongo import create_indexes
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS, POINTS
from services.badges.bootstrap import build
from services.badges.entrypoints.consumer import STATE_CACHE_SIZE, TOPICS, BadgesHandler
from services.badges.entrypoints.indexes import INDEXES

NETWORKS = ["linkedin", "linkedin", "xing", "x", "facebook", "instagram"]
# What the points rules give each kind of event (the ledger entries the badges consume).
POINTS_OF = {"content.shared": 10, "course.completed": 30, "survey.answered": 5}
FACT_TOPICS = (EVENTS, POINTS)
GOAL = 0.8  # the rate at a larger size over the rate at the smallest

Offsets = dict[TopicPartition, int]


@dataclass(frozen=True)
class Phase:
    """What the consumer did over one range."""

    records: int
    facts: int
    groups: int  # employees with facts, summed over batches: the state writes at most
    seconds: float
    batches: int
    complete: bool


def ledger_entry(event: Envelope, points: int, reverses: str | None = None) -> bytes:
    """The ledger entry the points service would publish for the event."""
    rule = "reversal" if reverses else event.type.split(".")[0]
    return json.dumps(
        {
            "id": f"{event.id}:{rule}",
            "event_id": event.id,
            "event_type": event.type,
            "employee_id": event.employee_id,
            "rule_id": rule,
            "rules_version": "bench",
            "points": points,
            "explanation": "bench",
            "occurred_at": event.occurred_at.isoformat(),
            "sequence": event.sequence,
            "reverses": reverses,
        }
    ).encode()


class Feed:
    """Publishes one size's messages, in the order a day of the organisation would."""

    def __init__(self, settings: Settings, employees: int, run: str) -> None:
        self._producer = make_producer(settings, linger_ms=20, batch_size=256_000)
        self.ids = [f"bench-{run}-{employees}-{n}" for n in range(employees)]
        self._run = f"{run}-{employees}"
        self._rng = random.Random(employees)
        self._shares: dict[str, list[str]] = {employee: [] for employee in self.ids}
        self._sequence = int(time.time() * 1000) % 1_000_000_000_000
        self._start = datetime.now(UTC) - timedelta(days=20)
        self._count = 0

    def directory(self) -> None:
        for n, employee in enumerate(self.ids):
            body = {
                "employee_id": employee,
                "team": f"team-{n % 50}",
                "visibility": "visible" if n % 10 else "pseudonym",
                "pseudonym": f"P{n}",
                "active": True,
                "version": 1,
            }
            self._producer.send(EMPLOYEES, key=employee.encode(), value=json.dumps(body).encode())

    def warmup(self) -> None:
        for employee in self.ids:
            self._event(employee, "content.shared", self._share_data())

    def measured(self, events: int) -> int:
        """Publishes `events` events and their ledger entries; returns how many facts."""
        facts = 0
        for _ in range(events):
            employee = self._rng.choice(self.ids)
            roll = self._rng.random()
            shares = self._shares[employee]
            if roll < 0.5 or not shares:
                facts += self._event(employee, "content.shared", self._share_data())
            elif roll < 0.7:
                data = {"share_event_id": self._rng.choice(shares), "clicks": 3, "reactions": 1}
                facts += self._event(employee, "share.engaged", data)
            elif roll < 0.82:
                course = {"course_id": f"k-{self._rng.randrange(30)}", "track": "ai", "score": 80}
                facts += self._event(employee, "course.completed", course)
            elif roll < 0.95:
                survey = {"survey_id": f"s-{self._rng.randrange(10)}", "question_id": "q"}
                facts += self._event(employee, "survey.answered", {**survey, "kind": "enps"})
            else:
                shared = shares.pop(self._rng.randrange(len(shares)))
                facts += self._event(employee, "share.deleted", {"share_event_id": shared})
        return facts

    def flush(self) -> None:
        self._producer.flush(timeout=120)

    def close(self) -> None:
        self._producer.close(timeout=30)

    def _share_data(self) -> dict[str, object]:
        return {
            "content_id": f"c-{self._rng.randrange(300)}",
            "network": self._rng.choice(NETWORKS),
            "url": "https://example.org/c",
        }

    def _event(self, employee: str, event_type: str, data: dict[str, object]) -> int:
        """Publishes the event (and its ledger entry); returns how many facts that is."""
        self._sequence += 1
        self._count += 1
        at = self._start + timedelta(seconds=self._count * 97)
        event = Envelope(
            id=f"bench-{self._run}-ev-{self._count}",
            type=event_type,
            occurred_at=at,
            employee_id=employee,
            data=data,
            source="bench",
            sequence=self._sequence,
            accepted_at=at,
        )
        key = employee.encode()
        self._producer.send(EVENTS, key=key, value=event.to_json())
        if event_type == "content.shared":
            self._shares[employee].append(event.id)
        if event_type in POINTS_OF:
            self._producer.send(POINTS, key=key, value=ledger_entry(event, POINTS_OF[event_type]))
            return 2
        if event_type == "share.deleted":
            reversed_entry = f"{data['share_event_id']}:content"
            self._producer.send(POINTS, key=key, value=ledger_entry(event, -10, reversed_entry))
            return 2
        return 1


def raw_limit(
    settings: Settings, database: str, starts: Offsets, ends: Offsets, budget_s: float
) -> tuple[int, float]:
    """Consume the measured facts with kafka-python and write one unordered bulk insert
    per poll batch (one document per message). Stops after `budget_s` seconds."""
    client: MongoClient = MongoClient(settings.mongo_url)
    collection = client[database]["raw_insert"]
    consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False)
    partitions = [p for p in starts if p.topic in FACT_TOPICS]
    consumer.assign(partitions)
    for partition in partitions:
        consumer.seek(partition, starts[partition])
    count = 0
    began: float | None = None
    remaining = {p for p in partitions if starts[p] < ends[p]}
    while remaining:
        polled = consumer.poll(timeout_ms=1000, max_records=500)
        documents = []
        for partition, messages in polled.items():
            for message in messages:
                if message.offset < ends[partition]:
                    body = json.loads(message.value)
                    documents.append({"_id": f"{partition.topic}:{body['id']}", **body})
        if documents:
            if began is None:
                began = time.perf_counter()
            collection.insert_many(documents, ordered=False)
            count += len(documents)
            if time.perf_counter() - began > budget_s:
                break
        remaining = {p for p in remaining if consumer.position(p) < ends[p]}
    elapsed = time.perf_counter() - (began or time.perf_counter())
    consumer.close()
    client.close()
    return count, elapsed


class RunningConsumer:
    """The badges consumer loop (the real handler, wired as `build_loop` wires it) in a
    thread, running through both phases as a consumer in production runs through the day:
    each phase is timed from its first batch until every partition reached its end."""

    def __init__(
        self, settings: Settings, handler: BadgesHandler, group: str, starts: Offsets
    ) -> None:
        seeder = KafkaConsumer(**client_options(settings), group_id=group, enable_auto_commit=False)
        seeder.commit({p: OffsetAndMetadata(o, "", -1) for p, o in starts.items()})
        seeder.close(autocommit=False)
        self._handler = handler
        self._starts = dict(starts)
        self._ends = dict(starts)
        self._budget_s = 0.0
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._progress: dict[TopicPartition, int] = {}
        self._stats = self._fresh_stats()
        self._loop = ConsumerLoop(
            settings, group, TOPICS, self._handle, on_assign=handler.partitions_assigned
        )
        self._thread = threading.Thread(target=self._loop.run, daemon=True)
        self._thread.start()

    @staticmethod
    def _fresh_stats() -> dict[str, float]:
        return {"records": 0, "facts": 0, "groups": 0, "batches": 0, "began": 0.0}

    def begin(self, budget_s: float) -> None:
        """Start timing a phase at its next batch (before its messages are published)."""
        with self._lock:
            self._ends, self._budget_s = {}, budget_s
            self._stats = self._fresh_stats()
            self._done.clear()

    def finish(self, ends: Offsets) -> Phase:
        """Wait until every partition reached `ends` (or the budget after the phase's
        first batch); what the consumer did in the phase."""
        with self._lock:
            self._ends = dict(ends)
            self._done.clear()
            if self._reached():
                self._done.set()
        self._done.wait(timeout=self._budget_s + 120)
        with self._lock:
            stats = self._stats
            elapsed = time.perf_counter() - stats["began"] if stats["began"] else 0.0
            return Phase(
                int(stats["records"]),
                int(stats["facts"]),
                int(stats["groups"]),
                elapsed,
                int(stats["batches"]),
                self._reached(),
            )

    def stop(self) -> None:
        self._loop.stop()
        self._thread.join(timeout=60)

    def _reached(self) -> bool:
        return all(
            self._progress.get(p, self._starts.get(p, 0) - 1) >= end - 1
            for p, end in self._ends.items()
        )

    def _handle(self, records: Sequence[Record]) -> list[Rejection]:
        with self._lock:
            if not self._stats["began"]:
                self._stats["began"] = time.perf_counter()
        rejected = self._handler(records)
        with self._lock:
            stats = self._stats
            stats["records"] += len(records)
            stats["facts"] += sum(1 for record in records if record.topic in FACT_TOPICS)
            stats["groups"] += len({r.key for r in records if r.topic in FACT_TOPICS})
            stats["batches"] += 1
            for record in records:
                partition = TopicPartition(record.topic, record.partition)
                self._progress[partition] = max(self._progress.get(partition, -1), record.offset)
            over_budget = time.perf_counter() - stats["began"] > self._budget_s
            if (self._ends and self._reached()) or over_budget:
                self._done.set()
        return rejected


@dataclass(frozen=True)
class SizeResult:
    employees: int
    rate: float
    raw_rate: float
    complete: bool


def measure_size(
    settings: Settings, employees: int, events: int, run: str, budget_s: float
) -> SizeResult:
    """Warm-up, then the raw limit and the consumer over the same measured facts."""
    feed = Feed(settings, employees, run)
    components = build(settings, state_cache_size=STATE_CACHE_SIZE)
    try:
        create_indexes(components.database, INDEXES)
        handler = BadgesHandler(components.service)
        group = f"bench-badges-{run}-{employees}"
        starts = end_offsets(settings, *TOPICS)
        consumer = RunningConsumer(settings, handler, group, starts)
        try:
            # Each part is published once the previous one is consumed: a phase never
            # reads into the next one's messages.
            consumer.begin(budget_s)
            feed.directory()
            feed.warmup()
            feed.flush()
            warm = consumer.finish(end_offsets(settings, *TOPICS))
            print(
                f"[{employees} employees] warm-up: {warm.records} records ({employees} "
                f"snapshots, first shares and their ledger entries) in {warm.seconds:.2f}s = "
                f"{warm.records / warm.seconds:,.0f} records/s (the consumer's start and "
                f"first read of where states are included)"
                + ("" if warm.complete else f" -- stopped at the {budget_s:.0f}s budget")
            )
            starts = end_offsets(settings, *TOPICS)
            consumer.begin(budget_s)
            facts = feed.measured(events)
            feed.flush()
            ends = end_offsets(settings, *TOPICS)
            result = consumer.finish(ends)
        finally:
            consumer.stop()
        print(
            f"[{employees} employees] published {facts} measured facts ({events} events "
            f"and their ledger entries), consumed as they came"
        )
        raw_count, raw_seconds = raw_limit(
            settings, f"bench_{run}_{employees}_raw", starts, ends, budget_s
        )
        raw_rate = raw_count / raw_seconds
        print(
            f"[{employees} employees] raw limit (kafka-python + one unordered bulk insert per "
            f"poll, same messages): {raw_count} facts in {raw_seconds:.2f}s = "
            f"{raw_rate:,.0f} facts/s"
        )
    finally:
        feed.close()
        components.close()
    rate = result.facts / result.seconds
    print(
        f"[{employees} employees] badges consumer: {result.facts} facts in "
        f"{result.seconds:.2f}s over {result.batches} batches = {rate:,.1f} facts/s; "
        f"{result.groups} employee-batches (one state write each, at most) = "
        f"{result.groups / result.seconds:,.1f}/s"
        + ("" if result.complete else f" -- stopped at the {budget_s:.0f}s budget")
    )
    print(f"[{employees} employees] ratio badges consumer / raw limit: {rate / raw_rate:.3f}")
    return SizeResult(employees, rate, raw_rate, warm.complete and result.complete)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", default="500,2000", help="sizes, comma separated")
    parser.add_argument("--events", type=int, default=4_000, help="measured events per size")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per timed phase")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    args = parser.parse_args()
    sizes = [int(size) for size in args.employees.split(",")]
    run = uuid.uuid4().hex[:8]
    # `bench/run.py` stops an overrunning bench with SIGTERM: clean up all the same.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    results: list[SizeResult] = []
    prefixes = [f"bench_{run}_{size}_" for size in sizes]
    try:
        for size, prefix in zip(sizes, prefixes, strict=True):
            settings = Settings.from_env({"mongo_db_prefix": prefix})
            results.append(measure_size(settings, size, args.events, run, args.budget))
    finally:
        if not args.keep:
            client: MongoClient = MongoClient(Settings.from_env().mongo_url)
            for name in client.list_database_names():
                if name.startswith(f"bench_{run}_"):
                    client.drop_database(name)
            client.close()
    smallest = results[0]
    print("summary (facts/s; raw limit beside; ratio to the smallest size):")
    for result in results:
        print(
            f"  {result.employees:>6} employees: {result.rate:8,.1f} facts/s  "
            f"(raw limit {result.raw_rate:,.0f}/s, {result.rate / result.raw_rate:.3f} of it)  "
            f"x{result.rate / smallest.rate:.2f} of {smallest.employees}"
            + ("" if result.complete else "  [budget reached: partial]")
        )
    worst = min(result.rate / smallest.rate for result in results)
    verdict = "met" if worst >= GOAL else "NOT met"
    print(
        f"goal: every size within {1 - GOAL:.0%} of the rate at {smallest.employees} "
        f"employees: {verdict} (worst x{worst:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
