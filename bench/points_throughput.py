"""Points consumer throughput against the raw limit of the same stack, same run.

    source <stack env> && .venv/bin/python bench/points_throughput.py [--events 20000]

1. Publishes directory snapshots and N events (a realistic mix) on the real topics.
2. Raw limit: the same messages consumed with kafka-python, and per poll batch one
   unordered pymongo bulk upsert holding one document per event.
3. The points consumer (the real batch handler: rules, ledger, states, cercle.points.v1,
   Redis) on the same messages, in a consumer group of its own.
Prints both rates and their ratio. Everything it writes lives under a prefix of its own,
removed at the end (the messages stay on the topics, whose retention is the log's)."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from pymongo import InsertOne, MongoClient, UpdateOne

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
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.adapters.board_index import LeaderboardIndex
from services.points.bootstrap import build_processor
from services.points.entrypoints.consumer import MAX_RECORDS

NETWORKS = ["linkedin", "linkedin", "xing", "x", "facebook", "instagram"]


def publish(settings: Settings, events: int, employees: int, run: str) -> int:
    producer = make_producer(settings, linger_ms=20, batch_size=256_000)
    ids = [f"bench-{run}-{n}" for n in range(employees)]
    for n, employee in enumerate(ids):
        body = {
            "employee_id": employee,
            "team": f"team-{n % 50}",
            "site": f"site-{n % 7}",
            "visibility": "visible" if n % 10 else "pseudonym",
            "pseudonym": f"P{n}",
            "active": True,
            "version": 1,
        }
        producer.send(EMPLOYEES, key=employee.encode(), value=json.dumps(body).encode())
    rng = random.Random(7)
    shares: dict[str, list[str]] = {employee: [] for employee in ids}
    start = datetime.now(UTC) - timedelta(days=20)
    sequence = int(time.time()) % 1_000_000_000
    for n in range(events):
        employee = rng.choice(ids)
        sequence += 1
        at = start + timedelta(seconds=n * 60)
        roll = rng.random()
        if roll < 0.5 or not shares[employee]:
            event_type = "content.shared"
            data = {
                "content_id": f"c-{rng.randrange(300)}",
                "network": rng.choice(NETWORKS),
                "url": "https://example.org/c",
                "tags": ["brand"],
            }
        elif roll < 0.75:
            event_type = "share.engaged"
            data = {
                "share_event_id": rng.choice(shares[employee]),
                "clicks": rng.randrange(40),
                "reactions": rng.randrange(10),
            }
        elif roll < 0.85:
            event_type = "course.completed"
            data = {
                "course_id": f"k-{rng.randrange(30)}",
                "track": "ai",
                "score": rng.randrange(101),
            }
        elif roll < 0.95:
            event_type = "survey.answered"
            data = {"survey_id": f"s-{rng.randrange(10)}", "question_id": "q", "kind": "enps"}
        else:
            event_type = "share.deleted"
            data = {"share_event_id": rng.choice(shares[employee])}
        event_id = f"bench-{run}-ev-{n}"
        if event_type == "content.shared":
            shares[employee].append(event_id)
        envelope = Envelope(
            id=event_id,
            type=event_type,
            occurred_at=at,
            employee_id=employee,
            data=data,
            source="bench",
            sequence=sequence,
            accepted_at=at,
        )
        producer.send(EVENTS, key=employee.encode(), value=envelope.to_json())
    producer.flush(timeout=120)
    producer.close()
    return events


def raw_limit(
    settings: Settings,
    database: str,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    upsert: bool,
    budget_s: float,
) -> tuple[int, float]:
    """Consume the range with kafka-python and write one bulk per poll batch. Stops after
    `budget_s` seconds: FerretDB upserts slow down as the collection grows, so the rate
    of the first part is the most favourable raw limit (a conservative ratio)."""
    client: MongoClient = MongoClient(settings.mongo_url)
    collection = client[database]["raw_upsert" if upsert else "raw_insert"]
    consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False)
    consumer.assign(list(starts))
    for partition, offset in starts.items():
        consumer.seek(partition, offset)
    count = 0
    began: float | None = None
    remaining = {p for p in starts if starts[p] < ends[p]}
    while remaining:
        polled = consumer.poll(timeout_ms=1000, max_records=2000)
        documents = []
        for partition, messages in polled.items():
            for message in messages:
                if message.offset < ends[partition]:
                    body = json.loads(message.value)
                    documents.append(body)
        if documents:
            if began is None:
                began = time.perf_counter()
            if upsert:
                ops = [
                    UpdateOne({"_id": body["id"]}, {"$set": body}, upsert=True)
                    for body in documents
                ]
            else:
                ops = [InsertOne({"_id": body["id"], **body}) for body in documents]
            collection.bulk_write(ops, ordered=False)
            count += len(documents)
            if time.perf_counter() - began > budget_s:
                break
        remaining = {p for p in remaining if consumer.position(p) < ends[p]}
    elapsed = time.perf_counter() - (began or time.perf_counter())
    consumer.close()
    client.close()
    return count, elapsed


def consumer_rate(
    settings: Settings, starts: dict[TopicPartition, int], ends: dict[TopicPartition, int]
) -> tuple[int, int, float, int]:
    """Run the real points consumer over the range; returns (records, events, seconds,
    batches)."""
    group = f"bench-points-{uuid.uuid4().hex[:8]}"
    seeder = KafkaConsumer(**client_options(settings), group_id=group, enable_auto_commit=False)
    seeder.commit({p: OffsetAndMetadata(o, "", -1) for p, o in starts.items()})
    seeder.close(autocommit=False)
    processor = build_processor(settings, alias="points-bench")
    done = threading.Event()
    progress: dict[TopicPartition, int] = {}
    stats = {"records": 0, "events": 0, "batches": 0, "began": 0.0}

    def handle(records: Sequence[Record]) -> list[Rejection]:
        if not stats["began"]:
            stats["began"] = time.perf_counter()
        rejected = processor.handle_batch(records)
        stats["records"] += len(records)
        stats["events"] += sum(1 for record in records if record.topic == EVENTS)
        stats["batches"] += 1
        for record in records:
            partition = TopicPartition(record.topic, record.partition)
            progress[partition] = max(progress.get(partition, -1), record.offset)
        if all(progress.get(p, starts[p] - 1) >= ends[p] - 1 for p in ends):
            done.set()
        return rejected

    loop = ConsumerLoop(
        settings,
        group,
        [EVENTS, EMPLOYEES],
        handle,
        max_records=MAX_RECORDS,
        on_assign=processor.partitions_assigned,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    done.wait(timeout=3600)
    elapsed = time.perf_counter() - stats["began"]
    loop.stop()
    thread.join(timeout=60)
    if processor.publisher is not None:
        processor.publisher.close()
    return int(stats["records"]), int(stats["events"]), elapsed, int(stats["batches"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--employees", type=int, default=2_000)
    parser.add_argument("--raw-budget", type=float, default=60.0, help="seconds per raw run")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    settings = Settings.from_env({"mongo_db_prefix": f"bench_{run}_"})
    database = f"bench_{run}_raw"
    event_starts = end_offsets(settings, EVENTS)
    directory_starts = end_offsets(settings, EMPLOYEES)
    began = time.perf_counter()
    publish(settings, args.events, args.employees, run)
    print(
        f"published {args.events} events for {args.employees} employees "
        f"in {time.perf_counter() - began:.1f}s"
    )
    event_ends = end_offsets(settings, EVENTS)
    directory_ends = end_offsets(settings, EMPLOYEES)
    try:
        raw_count, raw_seconds = raw_limit(
            settings, database, event_starts, event_ends, True, args.raw_budget
        )
        raw_rate = raw_count / raw_seconds
        print(
            f"raw limit (kafka-python + one unordered bulk upsert per poll): "
            f"{raw_count} events in {raw_seconds:.2f}s = {raw_rate:,.0f} events/s"
        )
        ins_count, ins_seconds = raw_limit(
            settings, database, event_starts, event_ends, False, args.raw_budget
        )
        ins_rate = ins_count / ins_seconds
        print(
            f"raw inserts instead of upserts (for reference): {ins_count} events in "
            f"{ins_seconds:.2f}s = {ins_rate:,.0f} events/s"
        )
        starts = {**event_starts, **directory_starts}
        ends = {**event_ends, **directory_ends}
        count, event_count, seconds, batches = consumer_rate(settings, starts, ends)
        rate = event_count / seconds
        print(
            f"points consumer: {count} records ({event_count} events + "
            f"{count - event_count} directory snapshots) in {seconds:.2f}s over {batches} "
            f"batches = {count / seconds:,.0f} records/s, {rate:,.0f} events/s"
        )
        print(f"ratio points / raw limit: {rate / raw_rate:.2f} (target >= 0.5)")
        print(f"ratio points / raw inserts: {rate / ins_rate:.2f}")
        target = "met" if rate >= 2000 else "NOT met"
        print(
            f"2,000 events/s target: {target}"
            + (
                ""
                if raw_rate >= 2000
                else f" -- the database is the ceiling here: the raw limit is {raw_rate:,.0f}/s"
            )
        )
    finally:
        if not args.keep:
            client: MongoClient = MongoClient(settings.mongo_url)
            client.drop_database(database)
            client.drop_database(settings.database_name("points"))
            client.close()
            LeaderboardIndex.from_settings(settings).clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
