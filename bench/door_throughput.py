"""The door at scale: the events service's intake with 10,000 and with 1,000,000 events
already stored, each figure beside its raw limit measured in the same run.

    source <stack env> && .venv/bin/python bench/door_throughput.py \
        [--stored 10000,1000000] [--quick]

Goals (issue "The door at scale", section Figures): >= 2,000 events/s in batches of 100,
>= 300 single requests/s, each >= 0.10 of the bare server's figure, the figures at the
largest store within 20 % of those at the smallest, and a `recordShare` mutation through
the gateway with p99 < 100 ms. Each goal is printed PASS or MISS; the exit status is 0
whenever the measurement itself worked (non-zero when something failed to run, or when
the door refused a valid event: then the bench or the door is wrong).

For each size of store, in increasing order:
1. Stores events in bulk (what the relay would have left: `accepted`, `events` with their
   sequences, `sequences`), in parallel processes, printing progress and the time taken;
   the directory (a few hundred employees) and one catalogued content come first.
2. Serves the events API exactly as `make run` does (gunicorn, `GUNICORN_WORKERS`) with the outbox
   relay running (`python -m services.events.entrypoints.relay`), and beside it the raw
   limit: a bare gunicorn + Flask app with the same workers that parses the same JSON bodies and
   answers a similar JSON (`bare_app` below).
3. Posts `content.shared` events with fresh ids, in batches of 100 (`POST
   /v1/events:batch`) and one per request (`POST /v1/events`) over several concurrent
   connections with keep-alive (a connection the server closes is opened again), bare
   server first (for half the time: its figure is steady), for a bounded
   time each; counts the 201s and reports every other answer with its body. After each
   phase, waits (bounded) until the relay has emptied the outbox, and prints how long
   that took (the relay's pace: accepted and published per second).
4. Inbound Kafka: publishes messages on `cercle.inbound.social-tracker.v1`, consumes them with
   kafka-python in a group of its own with one unordered bulk insert per poll (the raw
   limit), then with the real inbound consumer
   (`services.events.entrypoints.consumer.build_loop`) in another group, counting what it
   accepts as it writes the acceptance records. Both rates
   run from the end of the first batch's write to the end of the last one.
5. Times one `recordShare` mutation at a time through the gateway (gunicorn as devstack
   serves it, `EVENTS_URL` = this API, dev tokens signed beforehand): p50 / p99.
6. For information, one `GET /v1/events/<id>` of a recent event, timed (on FerretDB's
   SQLite backend a read by `_id` scans the collection up to the document).

The bench itself never reads a document by `_id` (on the local server that scan grows
with the store): it counts with `collStats` and watches the outbox with `find_one({})`.

Everything lives under a database prefix of this run, dropped at the end, as are its
consumer groups; the servers it started are stopped. The messages stay on the topics
(their retention is the log's) and the gateway's rate-limit counters expire in Redis."""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask, Response, jsonify, request
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from leaderboard_latency import free_port, percentile

from cercle_common.envelope import CONTENT_SHARED, Envelope, format_instant
from cercle_common.identifiers import new_ulid
from cercle_common.messaging import client_options, end_offsets, make_producer
from cercle_common.settings import Settings
from cercle_common.topics import DEADLETTER, INBOUND_TOPICS
from devstack.services import GUNICORN_WORKERS
from gateway.auth import issue_dev_token
from services.events.adapters.catalogue import MongoCatalogue
from services.events.adapters.event_store import EventStore, acceptance_record
from services.events.domain.accepted import AcceptedEvent, accepted_event
from services.events.domain.directory import parse_record
from services.events.domain.events import fingerprint, validate_data
from services.events.entrypoints.consumer import build_loop
from services.events.handlers import Catalogue, Directory, utc_now

# The inbound traffic of the bench is the social-network tracker's.
TRACKER_TOPIC = INBOUND_TOPICS["social-tracker"]

BATCH = 100
TARGET_BATCH_RATE = 2000.0
TARGET_SINGLE_RATE = 300.0
TARGET_OF_BARE = 0.10
TARGET_FLAT = 0.20  # the largest store's figure within 20 % of the smallest's
TARGET_GATEWAY_P99_MS = 100.0

CONTENT_ID = "c-bench"
NETWORKS = ("linkedin", "linkedin", "x", "xing", "facebook", "instagram")
SEED_CHUNK = 5000  # events per seeding task (3 inserts of this many documents)
GATEWAY_WARMUP = 30
RELAY_START_S = 300.0  # the longest wait for the relay's first publication
CONSUMER_MAX_S = 180.0  # the longest one inbound run may take
READ_BACK_S = 10.0  # the longest wait for one GET /v1/events/<id>
REPORTED_REFUSALS = 5  # answers quoted in full per phase; the rest are counted

SHARE = """mutation Share($input: RecordShareInput!) {
  recordShare(input: $input) { event { id type employeeId } errors { field code message } } }"""


class BenchFailure(RuntimeError):
    """Something the measurement needs did not work (a server, a dependency, the door)."""


# -- the raw limit: a bare server answering like the door ---------------------------------


def bare_app() -> Flask:
    """The raw HTTP limit: `gunicorn --pythonpath bench 'door_throughput:bare_app()'`.
    Checks the bearer token, parses the same JSON bodies and answers each event as the
    door does (the event with `sequence: null` and `accepted_at`), storing nothing."""
    app = Flask("bare-door")
    expected = f"Bearer {Settings.from_env().service_token}"

    def answer(body: dict[str, Any], now: str) -> dict[str, Any]:
        return {
            "id": body.get("id"),
            "type": body.get("type"),
            "schema_version": body.get("schema_version", 1),
            "occurred_at": body.get("occurred_at"),
            "employee_id": body.get("employee_id"),
            "source": body.get("source"),
            "data": body.get("data"),
            "sequence": None,
            "accepted_at": now,
        }

    def guarded() -> Response | None:
        if request.headers.get("Authorization") != expected:
            return Response('{"error": {"code": "unauthorized"}}', 401)
        return None

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.post("/v1/events")
    def single() -> tuple[Response, int] | Response:
        refused = guarded()
        if refused is not None:
            return refused
        body = request.get_json()
        return jsonify(answer(body, format_instant(datetime.now(UTC)))), 201

    @app.post("/v1/events:batch")
    def batch() -> tuple[Response, int] | Response:
        refused = guarded()
        if refused is not None:
            return refused
        now = format_instant(datetime.now(UTC))
        results = [
            {"id": body.get("id"), "status": 201, "event": answer(body, now)}
            for body in request.get_json()["events"]
        ]
        return jsonify(results=results), 200

    return app


# -- the processes this benchmark starts ----------------------------------------------------


@dataclass
class Server:
    """A process of this run, its log (stdout and stderr) and where it answers."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class Processes:
    """Starts servers, waits until they answer `/healthz`, stops them (reverse order)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: list[Server] = []
        self.bin = Path(sys.executable).parent

    def gunicorn(self, name: str, app: str, extra_env: dict[str, str] | None = None) -> Server:
        """`app` as devstack serves an API (its workers, a short graceful timeout)."""
        port = free_port()
        argv = [str(self.bin / "gunicorn"), *GUNICORN_WORKERS, "-b", f"127.0.0.1:{port}"]
        argv += ["--graceful-timeout", "5"]
        if app.startswith("door_throughput:"):
            argv += ["--pythonpath", str(Path(__file__).resolve().parent)]
        argv.append(app)
        url = f"http://127.0.0.1:{port}"
        return self._start(name, argv, extra_env or {}, url, f"{url}/healthz")

    def consumer(self, name: str, module: str) -> Server:
        """`python -m module`, as devstack runs a consumer (its health on a free port)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [str(self.bin / "python"), "-m", module]
        return self._start(name, argv, {"HEALTH_PORT": str(port)}, url, f"{url}/healthz")

    def _start(
        self, name: str, argv: list[str], extra_env: dict[str, str], url: str, health: str
    ) -> Server:
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                argv,
                env={**self.env, **extra_env},
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=str(Path(__file__).resolve().parent.parent),
            )
        server = Server(name, process, log, url)
        self.running.append(server)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(health, timeout=2).status_code == 200:
                    return server
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop(server)
                raise BenchFailure(f"{name} did not start; its log:\n{server.log_tail()}")
            time.sleep(0.2)

    def check_alive(self, server: Server) -> None:
        """Raise if `server` died (with the end of its log)."""
        if server.process.poll() is not None:
            raise BenchFailure(
                f"{server.name} exited with status {server.process.returncode}; its log:\n"
                + server.log_tail()
            )

    def stop(self, server: Server) -> None:
        if server in self.running:
            self.running.remove(server)
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=10)

    def stop_all(self) -> None:
        for server in reversed(list(self.running)):
            self.stop(server)


# -- events ---------------------------------------------------------------------------------


def share_event(
    employee: str, source: str, now: datetime, rng: random.Random, n: int
) -> dict[str, Any]:
    """A valid `content.shared` with a fresh id, occurred within the last 3 days."""
    occurred = now - timedelta(seconds=rng.uniform(60, 3 * 86400))
    return {
        "id": new_ulid(),
        "type": CONTENT_SHARED,
        "schema_version": 1,
        "occurred_at": format_instant(occurred),
        "employee_id": employee,
        "source": source,
        "data": {
            "content_id": CONTENT_ID,
            "network": NETWORKS[n % len(NETWORKS)],
            "url": f"https://example.org/posts/{n}",
            "tags": ["bench"],
        },
    }


def employee_ids(run: str, count: int) -> list[str]:
    return [f"door-{run}-{n:04d}" for n in range(count)]


def create_directory(store: EventStore, employees: list[str]) -> None:
    """The employees, in the door's own directory, and the one content they share."""
    directory = Directory(store)
    for n, employee in enumerate(employees):
        record = {
            "display_name": f"Door Bench {n}",
            "email": f"{employee}@example.org",
            "team": f"team-{n % 20}",
            "site": f"site-{n % 5}",
            "visibility": "visible",
        }
        directory.save(employee, parse_record(record))
    Catalogue(MongoCatalogue(store.db), utc_now).put(
        "content", CONTENT_ID, {"title": "The door at scale", "url": "https://example.org/bench"}
    )


# -- seeding "events already stored" ---------------------------------------------------------

_WORKER_CLIENTS: dict[str, MongoClient] = {}


def seed_range(task: tuple[str, str, int, int, list[str], str]) -> int:
    """Store `count` accepted events with sequences `first`, `first + 1`, ... as the door
    and the relay would have left them (a seeding process's task)."""
    mongo_url, database, first, count, employees, now_text = task
    client = _WORKER_CLIENTS.get(mongo_url)
    if client is None:
        client = _WORKER_CLIENTS[mongo_url] = MongoClient(mongo_url)
    db = client[database]
    now = datetime.fromisoformat(now_text)
    rng = random.Random(first)
    # One ULID per task: ids and entries that sort in time order, cheaply.
    nonce = new_ulid()
    accepted, events, sequences = [], [], []
    for offset in range(count):
        sequence = first + offset
        envelope = Envelope(
            id=f"{nonce}{offset:06d}",
            type=CONTENT_SHARED,
            occurred_at=now - timedelta(seconds=rng.uniform(60, 25 * 86400)),
            employee_id=employees[sequence % len(employees)],
            data={
                "content_id": CONTENT_ID,
                "network": NETWORKS[sequence % len(NETWORKS)],
                "url": f"https://example.org/posts/{sequence}",
                "tags": ["bench"],
            },
            source="gateway",
        )
        data = validate_data(envelope.type, envelope.data)
        digest = fingerprint(envelope)
        record = acceptance_record(
            accepted_event(envelope, data, digest, now, f"{nonce}{offset:06d}")
        )
        accepted.append(record)
        events.append({**record, "sequence": sequence})
        sequences.append({"_id": sequence, "event_id": envelope.id})
    db.accepted.insert_many(accepted, ordered=False)
    db.events.insert_many(events, ordered=False)
    db.sequences.insert_many(sequences, ordered=False)
    return count


def seed(settings: Settings, employees: list[str], first: int, count: int, workers: int) -> float:
    """Store `count` events from sequence `first` on, printing progress every tenth;
    returns the seconds it took."""
    database = settings.database_name("events")
    now = format_instant(datetime.now(UTC))
    tasks = [
        (
            settings.mongo_url,
            database,
            first + start,
            min(SEED_CHUNK, count - start),
            employees,
            now,
        )
        for start in range(0, count, SEED_CHUNK)
    ]
    began = time.perf_counter()
    done, step = 0, max(count // 10, SEED_CHUNK)
    # `spawn`: the seeding processes share nothing (no client opened before a fork).
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for stored in pool.imap_unordered(seed_range, tasks):
            reported, done = done // step, done + stored
            if done // step > reported or done == count:
                elapsed = time.perf_counter() - began
                print(
                    f"  seeding: {done:,} / {count:,} events ({3 * done:,} documents) in "
                    f"{elapsed:.0f}s, {3 * done / elapsed:,.0f} documents/s",
                    flush=True,
                )
    return time.perf_counter() - began


def stored_count(store: EventStore) -> int:
    """How many acceptance records the database holds (collStats: no scan)."""
    return int(store.db.command("collStats", "accepted").get("count", 0))


# -- HTTP load --------------------------------------------------------------------------------


@dataclass
class Load:
    """What one HTTP phase did: requests, events accepted (201), in how long, and every
    other answer (the first ones quoted)."""

    requests: int = 0
    accepted: int = 0
    seconds: float = 0.0
    refused: int = 0
    quoted: list[str] = field(default_factory=list)
    closed: int = 0  # answers after which the server closed the connection

    @property
    def rate(self) -> float:
        """Accepted events (201) per second: events/s in batches, requests/s one by one."""
        return self.accepted / self.seconds if self.seconds else 0.0


def post_load(
    base: str,
    path: str,
    bodies: Sequence[bytes],
    connections: int,
    seconds: float,
    token: str,
    *,
    batch: bool,
    cycle: bool = False,
) -> Load:
    """POST `bodies` over `connections` concurrent connections, for at most `seconds`
    (and, unless `cycle`, at most once each). Keep-alive is asked for; a server that closes
    the connection after its answer (gunicorn's sync workers do) gets a new one."""
    target = urlsplit(base)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "Connection": "keep-alive",
    }
    load = Load()
    lock = threading.Lock()
    start = threading.Barrier(connections + 1)
    ends: list[float] = []

    def refused(text: str) -> None:
        load.refused += 1
        if len(load.quoted) < REPORTED_REFUSALS:
            load.quoted.append(text[:1000])

    def worker(share: Sequence[bytes], deadline_holder: list[float]) -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        start.wait()
        deadline = deadline_holder[0]
        accepted = posted = closed = 0
        n = 0
        try:
            while time.perf_counter() < deadline and (cycle or n < len(share)):
                body = share[n % len(share)]
                n += 1
                try:
                    connection.request("POST", path, body, headers)
                    response = connection.getresponse()
                    raw = response.read()
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    with lock:
                        refused(f"{path}: no answer: {error!r}")
                    continue
                posted += 1
                closed += response.will_close
                if batch and response.status == 200:
                    for item in json.loads(raw)["results"]:
                        if item.get("status") == 201:
                            accepted += 1
                        else:
                            with lock:
                                refused(f"{path} item answered {json.dumps(item)}")
                    continue
                if response.status == 201 and not batch:
                    accepted += 1
                else:
                    with lock:
                        refused(
                            f"{path} answered {response.status}: {raw.decode(errors='replace')}"
                        )
        finally:
            connection.close()
            with lock:
                load.requests += posted
                load.closed += closed
                load.accepted += accepted
                ends.append(time.perf_counter())

    deadline_holder = [0.0]
    threads = [
        threading.Thread(target=worker, args=(bodies[k::connections], deadline_holder), daemon=True)
        for k in range(connections)
    ]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline_holder[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    load.seconds = (max(ends) if ends else time.perf_counter()) - began
    return load


def batch_bodies(events: list[dict[str, Any]]) -> list[bytes]:
    return [
        json.dumps({"events": events[n : n + BATCH]}).encode() for n in range(0, len(events), BATCH)
    ]


def single_bodies(events: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(event).encode() for event in events]


# -- the relay --------------------------------------------------------------------------------


def read_back(base: str, token: str, event_id: str, timeout_s: float) -> str:
    """`GET /v1/events/<id>` once, timed: what it took (or that it timed out)."""
    began = time.perf_counter()
    try:
        answer = requests.get(
            f"{base}/v1/events/{event_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )
    except requests.Timeout:
        return f"no answer within {timeout_s:.0f}s"
    took = (time.perf_counter() - began) * 1000
    return f"{answer.status_code} in {took:,.0f} ms"


def wait_for_empty_outbox(store: EventStore, limit_s: float) -> float | None:
    """Seconds until the outbox is empty (one `find_one({})` per check: no scan); None when
    it is not within `limit_s`."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit_s:
        if store.db.outbox.find_one({}, {"_id": 1}) is None:
            return time.perf_counter() - began
        time.sleep(0.25)
    return None


def report_drain(
    label: str, store: EventStore, events: int, seconds: float, limit_s: float
) -> None:
    drained = wait_for_empty_outbox(store, limit_s)
    if drained is None:
        pending = int(store.db.command("collStats", "outbox").get("count", 0))
        print(f"  relay: {pending:,} events of {label} still in the outbox {limit_s:.0f}s after it")
        return
    total = seconds + drained
    rate = f", {events / total:,.0f} events/s accepted and published" if events else ""
    print(f"  relay: outbox empty {drained:.1f}s after {label}{rate}")


# -- inbound Kafka ----------------------------------------------------------------------------


def start_group_at(settings: Settings, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit `offsets` for a new group, so that it starts there (not at the earliest)."""
    seeder = KafkaConsumer(**client_options(settings), group_id=group, enable_auto_commit=False)
    seeder.commit({p: OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
    seeder.close(autocommit=False)


def publish_inbound(settings: Settings, employees: list[str], count: int) -> None:
    """`count` content.shared from the social-network tracker, keyed by employee."""
    producer = make_producer(settings, linger_ms=20, batch_size=256_000)
    rng = random.Random(11)
    now = datetime.now(UTC)
    for n in range(count):
        event = share_event(employees[n % len(employees)], "social-tracker", now, rng, n)
        producer.send(
            TRACKER_TOPIC, key=event["employee_id"].encode(), value=json.dumps(event).encode()
        )
    producer.flush(timeout=120)
    producer.close()


@dataclass
class Marks:
    """(end of a write, records written so far): the rate from the end of the first
    batch's write to the end of the last one."""

    points: list[tuple[float, int]] = field(default_factory=list)

    def add(self, count: int) -> None:
        total = (self.points[-1][1] if self.points else 0) + count
        self.points.append((time.perf_counter(), total))

    @property
    def total(self) -> int:
        return self.points[-1][1] if self.points else 0

    def rate(self) -> tuple[float, int, float]:
        """(records/s, records after the first batch, seconds)."""
        if len(self.points) < 2:
            return 0.0, 0, 0.0
        (t0, n0), (t1, n1) = self.points[0], self.points[-1]
        return (n1 - n0) / (t1 - t0), n1 - n0, t1 - t0


def raw_inbound(
    settings: Settings,
    database: str,
    group: str,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    max_records: int,
) -> Marks:
    """The raw limit: kafka-python in a group of its own, one unordered bulk insert per
    poll, commit; until every partition reached its end (or `CONSUMER_MAX_S`)."""
    start_group_at(settings, group, starts)
    client: MongoClient = MongoClient(settings.mongo_url)
    collection = client[database]["raw_inbound"]
    consumer = KafkaConsumer(
        **client_options(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    consumer.subscribe([TRACKER_TOPIC])
    seen = {p: starts[p] - 1 for p in ends}
    marks = Marks()
    deadline = time.monotonic() + CONSUMER_MAX_S
    try:
        while any(seen[p] < ends[p] - 1 for p in ends) and time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=500, max_records=max_records)
            documents = []
            for partition, messages in polled.items():
                for message in messages:
                    seen[partition] = max(seen[partition], message.offset)
                    if message.offset < ends[partition]:
                        body = json.loads(message.value)
                        documents.append({"_id": body["id"], **body})
            if documents:
                collection.insert_many(documents, ordered=False)
                marks.add(len(documents))
                consumer.commit()
    finally:
        consumer.close(autocommit=False)
        client.close()
    return marks


class CountingStore(EventStore):
    """The event store, counting the acceptance records the door writes (the inbound
    consumer's progress, without reading the collection back)."""

    def __init__(self, database: Any) -> None:
        super().__init__(database)
        self.marks = Marks()
        self._lock = threading.Lock()

    def insert_accepted(self, events: Sequence[AcceptedEvent]) -> set[str]:
        refused = super().insert_accepted(events)
        with self._lock:
            self.marks.add(len(events) - len(refused))
        return refused


def real_inbound(
    settings: Settings,
    database: Any,
    group: str,
    starts: dict[TopicPartition, int],
    count: int,
) -> tuple[Marks, float]:
    """The real inbound consumer in a thread, in a group of its own, until it accepted
    `count` events (or `CONSUMER_MAX_S`); returns its marks and its whole running time."""
    start_group_at(settings, group, starts)
    # The bench's own database handle: connecting again would close it (mongoengine alias).
    store = CountingStore(database)
    loop = build_loop(settings, group, store)
    thread = threading.Thread(target=loop.run, name="inbound-bench", daemon=True)
    began = time.perf_counter()
    thread.start()
    deadline = time.monotonic() + CONSUMER_MAX_S
    while store.marks.total < count and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.1)
    elapsed = time.perf_counter() - began
    loop.stop()
    thread.join(timeout=60)
    if thread.is_alive():
        raise BenchFailure("the inbound consumer did not stop within 60 s")
    return store.marks, elapsed


# -- the gateway ------------------------------------------------------------------------------


def gateway_latency(
    settings: Settings, gateway_url: str, employees: list[str], count: int
) -> tuple[list[float], int, list[str]]:
    """Milliseconds of `count` sequential `recordShare` mutations (after a warm-up);
    returns the samples, the mutations recorded and the first answers that were not."""
    rng = random.Random(13)
    tokens = {e: f"Bearer {issue_dev_token(settings, e)}" for e in employees}
    session = requests.Session()
    samples: list[float] = []
    recorded = 0
    refused: list[str] = []
    for n in range(count + GATEWAY_WARMUP):
        employee = rng.choice(employees)
        variables = {
            "input": {
                "contentId": CONTENT_ID,
                "network": "LINKEDIN",
                "url": f"https://example.org/gateway/{n}",
            }
        }
        started = time.perf_counter()
        answer = session.post(
            f"{gateway_url}/graphql",
            json={"query": SHARE, "variables": variables},
            headers={"Authorization": tokens[employee]},
            timeout=30,
        )
        elapsed = (time.perf_counter() - started) * 1000
        try:
            body = answer.json()
        except ValueError:
            body = {}
        payload = (body.get("data") or {}).get("recordShare") or {}
        errors = body.get("errors") or payload.get("errors")
        if answer.status_code == 200 and payload.get("event") and not errors:
            recorded += 1
            if n >= GATEWAY_WARMUP:
                samples.append(elapsed)
            continue
        if len(refused) < REPORTED_REFUSALS:
            refused.append(f"{answer.status_code}: {answer.text[:1000]}")
    return samples, recorded, refused


# -- one size of store ------------------------------------------------------------------------


@dataclass
class Figures:
    """What was measured at one size of store."""

    stored: int
    batch: Load = field(default_factory=Load)
    bare_batch: Load = field(default_factory=Load)
    single: Load = field(default_factory=Load)
    bare_single: Load = field(default_factory=Load)
    kafka: tuple[float, float] | None = None  # (door, raw) events/s
    gateway_p50: float = 0.0
    gateway_p99: float = 0.0


@dataclass
class Run:
    """The state shared by the phases of one benchmark run."""

    settings: Settings
    args: argparse.Namespace
    processes: Processes
    store: EventStore
    employees: list[str]
    bare: Server
    run: str
    refusals: int = 0
    accepted: int = 0  # events the door accepted from this run's own traffic
    groups: list[str] = field(default_factory=list)
    last_id: str = ""  # an event the door accepted at the current size (its warm-up's last)

    @property
    def token(self) -> str:
        return self.settings.service_token

    def count(self, label: str, load: Load) -> None:
        """Keep the tally of what the door accepted and refused; quote the refusals."""
        self.accepted += load.accepted
        self.refusals += load.refused
        if load.refused:
            print(f"  !! {label}: {load.refused} answers were not 201; the first ones:")
            for text in load.quoted:
                print(f"     {text}")

    def events(self, count: int, seed: int, source: str = "gateway") -> list[dict[str, Any]]:
        rng = random.Random(seed)
        now = datetime.now(UTC)
        return [
            share_event(self.employees[n % len(self.employees)], source, now, rng, n)
            for n in range(count)
        ]


def measure(bench: Run, stored: int) -> Figures:
    """Every figure at one size of store: serve, load, stop."""
    args = bench.args
    api = bench.processes.gunicorn("events-api", "services.events.entrypoints.app:create_app()")
    relay = bench.processes.consumer("events-relay", "services.events.entrypoints.relay")
    try:
        warm_up(bench, api, relay, stored)
        figures = Figures(stored)
        for label, path, batch, count, connections in (
            (
                "batches of 100",
                "/v1/events:batch",
                True,
                args.max_batches * BATCH,
                args.batch_connections,
            ),
            ("single events", "/v1/events", False, args.max_singles, args.connections),
        ):
            encode = batch_bodies if batch else single_bodies
            # The bare server stores nothing (it cycles over a few fixed bodies) and its
            # figure is steady: half the time is enough.
            bare = post_load(
                bench.bare.url,
                path,
                encode(bench.events(2000, seed=1)),
                connections,
                args.seconds / 2,
                bench.token,
                batch=batch,
                cycle=True,
            )
            fresh = encode(bench.events(count, seed=stored + len(path)))
            door = post_load(
                api.url, path, fresh, connections, args.seconds, bench.token, batch=batch
            )
            bench.processes.check_alive(api)
            bench.count(label, door)
            unit = "events/s" if batch else "requests/s"
            target = TARGET_BATCH_RATE if batch else TARGET_SINGLE_RATE
            print(
                f"{label} at {stored:,} stored: door {door.rate:,.0f} {unit} "
                f"({door.accepted:,} accepted in {door.seconds:.1f}s over {connections} "
                f"connections) | bare {bare.rate:,.0f} {unit} | door / bare "
                f"{door.rate / bare.rate if bare.rate else 0:.2f} (goal >= {TARGET_OF_BARE:.2f})"
                f" | goal >= {target:,.0f} {unit}",
                flush=True,
            )
            if door.closed:
                print(
                    f"  (keep-alive asked; the server closed the connection after "
                    f"{door.closed:,} of {door.requests:,} answers)"
                )
            report_drain(label, bench.store, door.accepted, door.seconds, args.drain_s)
            if batch:
                figures.batch, figures.bare_batch = door, bare
            else:
                figures.single, figures.bare_single = door, bare
        if args.kafka_messages:
            figures.kafka = inbound(bench, stored)
        gateway_phase(bench, api, figures)
        bench.processes.check_alive(api)
        bench.processes.check_alive(relay)
        # Last, as it may hold a worker for long: reading one event back by its id.
        answer = read_back(api.url, bench.token, bench.last_id, READ_BACK_S)
        print(
            f"  GET /v1/events/<id> of an event accepted after the {stored:,} stored: {answer} "
            "(for information: no goal)",
            flush=True,
        )
        return figures
    finally:
        bench.processes.stop(relay)
        bench.processes.stop(api)


def warm_up(bench: Run, api: Server, relay: Server, stored: int) -> None:
    """A batch and a few single events (the workers' copies of the directory and the
    catalogue load), then wait until the relay published them (the outbox is empty): at
    start it reads the highest sequence claimed, which takes longer as the store grows."""
    events = bench.events(BATCH + 20, seed=stored)
    began = time.perf_counter()
    batch = post_load(
        api.url, "/v1/events:batch", batch_bodies(events[:BATCH]), 1, 60, bench.token, batch=True
    )
    bench.count("warm-up batch", batch)
    single = post_load(
        api.url, "/v1/events", single_bodies(events[BATCH:]), 2, 60, bench.token, batch=False
    )
    bench.count("warm-up single events", single)
    if wait_for_empty_outbox(bench.store, RELAY_START_S) is None:
        raise BenchFailure(
            f"the relay published nothing within {RELAY_START_S:.0f}s; its log:\n"
            + relay.log_tail()
        )
    bench.last_id = events[-1]["id"]
    print(
        f"  warm-up: {batch.accepted + single.accepted} events accepted, published by the "
        f"relay {time.perf_counter() - began:.1f}s after the first was sent",
        flush=True,
    )


def inbound(bench: Run, stored: int) -> tuple[float, float]:
    settings, count = bench.settings, bench.args.kafka_messages
    starts = end_offsets(settings, TRACKER_TOPIC)
    dead_before = sum(end_offsets(settings, DEADLETTER).values())
    began = time.perf_counter()
    publish_inbound(settings, bench.employees, count)
    ends = end_offsets(settings, TRACKER_TOPIC)
    published = sum(ends[p] - starts.get(p, 0) for p in ends)
    print(f"  inbound: {published:,} messages published in {time.perf_counter() - began:.1f}s")
    raw_group = f"bench-door-raw-{bench.run}-{stored}"
    door_group = f"bench-door-inbound-{bench.run}-{stored}"
    bench.groups += [raw_group, door_group]
    raw = raw_inbound(settings, f"{settings.mongo_db_prefix}raw", raw_group, starts, ends, 500)
    if raw.total < count:
        raise BenchFailure(f"the raw consumer read {raw.total} of {count} messages")
    raw_rate, raw_n, raw_s = raw.rate()
    door, running = real_inbound(settings, bench.store.db, door_group, starts, count)
    dead = sum(end_offsets(settings, DEADLETTER).values()) - dead_before
    bench.accepted += door.total
    if door.total < count or dead:
        bench.refusals += count - door.total
        print(
            f"  !! inbound: the consumer accepted {door.total:,} of {count:,} events in "
            f"{running:.0f}s; {dead} dead letters "
            "(python -m services.events.entrypoints.deadletters list)"
        )
    rate, n, seconds = door.rate()
    print(
        f"inbound Kafka at {stored:,} stored: door {rate:,.0f} events/s ({n:,} after the first "
        f"batch in {seconds:.1f}s) | raw (kafka-python + one bulk insert per poll) "
        f"{raw_rate:,.0f} events/s ({raw_n:,} in {raw_s:.1f}s) | door / raw "
        f"{rate / raw_rate if raw_rate else 0:.2f}",
        flush=True,
    )
    report_drain("the inbound events", bench.store, 0, 0, bench.args.drain_s)
    return rate, raw_rate


def gateway_phase(bench: Run, api: Server, figures: Figures) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # the mutation calls neither points nor badges
    gateway = bench.processes.gunicorn(
        "gateway",
        "gateway.app:create_app()",
        {
            "CERCLE_ENV": "dev",
            "EVENTS_URL": api.url,
            "POINTS_URL": nowhere,
            "BADGES_URL": nowhere,
            # Counted in Redis as always, but never reached by the benchmark.
            "GATEWAY_RATE_LIMIT": "1000000000",
        },
    )
    try:
        samples, recorded, refused = gateway_latency(
            bench.settings, gateway.url, bench.employees, bench.args.gateway_requests
        )
    finally:
        bench.processes.stop(gateway)
    bench.accepted += recorded
    total = bench.args.gateway_requests + GATEWAY_WARMUP
    if recorded < total:
        bench.refusals += total - recorded
        print(f"  !! gateway: {total - recorded} of {total} mutations not recorded; the first:")
        for text in refused:
            print(f"     {text}")
    figures.gateway_p50 = percentile(samples, 0.5)
    figures.gateway_p99 = percentile(samples, 0.99)
    print(
        f"recordShare through the gateway at {figures.stored:,} stored: p50 "
        f"{figures.gateway_p50:.1f} ms, p99 {figures.gateway_p99:.1f} ms, mean "
        f"{statistics.fmean(samples):.1f} ms over {len(samples)} mutations "
        f"(goal p99 < {TARGET_GATEWAY_P99_MS:.0f} ms)",
        flush=True,
    )
    report_drain("the mutations", bench.store, 0, 0, bench.args.drain_s)


# -- goals ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_goals(results: list[Figures]) -> None:
    print("== goals")
    for figures in results:
        at = f"at {figures.stored:,} stored"
        batch, single = figures.batch.rate, figures.single.rate
        bare_batch, bare_single = figures.bare_batch.rate, figures.bare_single.rate
        lines = [
            (
                f"batches {at}: {batch:,.0f} events/s (goal >= {TARGET_BATCH_RATE:,.0f})",
                batch >= TARGET_BATCH_RATE,
            ),
            (
                f"single events {at}: {single:,.0f} requests/s (goal >= {TARGET_SINGLE_RATE:,.0f})",
                single >= TARGET_SINGLE_RATE,
            ),
            (
                f"batches / bare {at}: {batch / bare_batch:.2f} of {bare_batch:,.0f} events/s "
                f"(goal >= {TARGET_OF_BARE:.2f})",
                batch >= TARGET_OF_BARE * bare_batch,
            ),
            (
                f"single / bare {at}: {single / bare_single:.2f} of {bare_single:,.0f} "
                f"requests/s (goal >= {TARGET_OF_BARE:.2f})",
                single >= TARGET_OF_BARE * bare_single,
            ),
            (
                f"gateway recordShare p99 {at}: {figures.gateway_p99:.1f} ms (goal < "
                f"{TARGET_GATEWAY_P99_MS:.0f} ms)",
                figures.gateway_p99 < TARGET_GATEWAY_P99_MS,
            ),
        ]
        for text, ok in lines:
            print(f"{verdict(ok)}  {text}")
    if len(results) > 1:
        small, large = results[0], results[-1]
        for label, first, last in (
            ("batches", small.batch.rate, large.batch.rate),
            ("single events", small.single.rate, large.single.rate),
        ):
            change = last / first - 1 if first else 0.0
            print(
                f"{verdict(abs(change) <= TARGET_FLAT)}  {label} at {large.stored:,} vs "
                f"{small.stored:,} stored: {last:,.0f} vs {first:,.0f} ({change:+.0%}; goal: "
                f"within {TARGET_FLAT:.0%})"
            )


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/door_throughput.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--stored", default="10000,1000000", help="sizes of store, comma separated")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--seconds", type=float, default=10.0, help="per HTTP phase")
    parser.add_argument("--connections", type=int, default=4, help="single-event clients")
    parser.add_argument("--batch-connections", type=int, default=4, help="batch clients")
    parser.add_argument("--max-batches", type=int, default=500, help="per batch phase")
    parser.add_argument("--max-singles", type=int, default=12_000, help="per single phase")
    parser.add_argument("--employees", type=int, default=200)
    parser.add_argument("--kafka-messages", type=int, default=5000, help="0: no Kafka phase")
    parser.add_argument("--gateway-requests", type=int, default=300)
    parser.add_argument("--seed-workers", type=int, default=3, help="seeding processes")
    parser.add_argument("--drain-s", type=float, default=90.0, help="longest wait for the relay")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    args = parser.parse_args(argv)
    if args.quick:
        args.stored = "1000,15000"
        args.seconds = 5.0
        args.employees = 50
        args.kafka_messages = min(args.kafka_messages, 2000)
        args.gateway_requests = 100
        args.drain_s = 60.0
    args.sizes = sorted({int(part) for part in args.stored.split(",") if part.strip()})
    return args


def delete_groups(settings: Settings, groups: list[str]) -> None:
    """Remove this run's consumer groups (cleanup: a failure is reported, not raised)."""
    try:
        admin = KafkaAdminClient(**client_options(settings))
        try:
            outcome = admin.delete_groups(groups)
        finally:
            admin.close()
    except Exception as error:
        print(f"note: the consumer groups {groups} were not deleted: {error!r}")
        return
    failed = {group: result for group, result in outcome.items() if result != "OK"}
    if failed:
        print(f"note: consumer groups not deleted: {failed}")


@contextmanager
def stopped_on_sigterm() -> Iterator[None]:
    """SIGTERM (bench/run.py's budget) unwinds like Ctrl-C: servers stopped, data dropped."""

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    run = uuid.uuid4().hex[:8]
    prefix = f"bench_door_{run}_"
    settings = Settings.from_env({"mongo_db_prefix": prefix})
    log_dir = Path(tempfile.mkdtemp(prefix="cercle-door-bench-"))
    processes = Processes({**os.environ, "MONGO_DB_PREFIX": prefix}, log_dir)
    store = EventStore.connect(settings)
    results: list[Figures] = []
    print(f"database prefix {prefix}, server logs in {log_dir}", flush=True)
    with stopped_on_sigterm():
        bench: Run | None = None
        try:
            employees = employee_ids(run, args.employees)
            began = time.perf_counter()
            create_directory(store, employees)
            print(
                f"directory: {len(employees)} employees and content {CONTENT_ID} in "
                f"{time.perf_counter() - began:.1f}s",
                flush=True,
            )
            bare = processes.gunicorn("bare", "door_throughput:bare_app()")
            bench = Run(settings, args, processes, store, employees, bare, run)
            seeding_s = 0.0
            for size in args.sizes:
                print(f"== {size:,} events stored", flush=True)
                missing = size - stored_count(store)
                if missing > 0:
                    first = store.highest_sequence_taken() + 1
                    print(
                        f"  seeding {missing:,} events (sequences from {first:,}) with "
                        f"{args.seed_workers} processes",
                        flush=True,
                    )
                    took = seed(settings, employees, first, missing, args.seed_workers)
                    seeding_s += took
                    print(
                        f"  seeded {missing:,} events ({3 * missing:,} documents) in {took:.1f}s",
                        flush=True,
                    )
                held = stored_count(store)
                print(f"  accepted holds {held:,} events", flush=True)
                results.append(measure(bench, held))
            print(
                f"seeding took {seeding_s:.0f}s in all; the whole run "
                f"{time.perf_counter() - started:.0f}s"
            )
            print_goals(results)
        except BenchFailure as failure:
            print(f"FAILED: {failure}", flush=True)
            return 1
        finally:
            processes.stop_all()
            if not args.keep:
                client: MongoClient = MongoClient(settings.mongo_url)
                client.drop_database(settings.database_name("events"))
                client.drop_database(f"{prefix}raw")
                client.close()
            store.close()
            if bench is not None and bench.groups:
                delete_groups(settings, bench.groups)
    if bench is not None and bench.refusals:
        print(f"FAILED: the door refused or lost {bench.refusals} valid events (quoted above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
