"""Chaos run: the whole system on a stack instance of its own ("chaos"), fed over HTTP
while consumers are SIGKILLed and the broker, the database and Redis are restarted; then
nothing may be lost, doubled or miscounted.

    .venv/bin/python bench/chaos.py            # the full run (`make chaos`)
    .venv/bin/python bench/chaos.py --ci       # the bounded run of `make test`

1. Starts the "chaos" instance afresh (own ports and data: `make run` never sees it) and
   every process of `make run` on ports of its own.
2. Puts the demo organisation's catalogue and directory in, then feeds its events in
   small batches (service token), re-sending some batches already accepted, while it
   SIGKILLs the points and badges consumers and the relay (each restarted at once),
   restarts Kafka, FerretDB and Redis once each, and rewinds each consumer group (so that
   messages already applied are delivered again for certain), spread over the feed.
3. Waits (bounded) until every accepted event is on `cercle.events.v1` and both consumer
   groups have caught up, then checks:
   - lost: accepted ids missing from the event store or from the topic;
   - doubled: ids published under more than one sequence (a relay republishing after a
     crash repeats the same sequence: counted apart, as at-least-once transport);
   - mismatches: what `services.points.entrypoints.check` finds (totals vs ledger, index vs states)
     plus the employees whose totals differ from a clean replay of the topic into a fresh
     database (`services.points.entrypoints.rescore`), and those whose badges (events counted per
     badge, point totals, tiers awarded) differ from a replay through the badges core.
Prints the figures; exits 0 when lost, doubled and mismatches are all 0 and the planned
kills and restarts happened, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from cercle_common.messaging import Record, client_options
from cercle_common.mongo import connect
from cercle_common.settings import ENVIRONMENT, Settings
from cercle_common.topics import EMPLOYEES, EVENTS, POINTS
from devstack import demo, stack
from devstack.config import (
    INSTANCE_MARKER_VARIABLE,
    KAFKA_URL_VARIABLE,
    MONGO_URL_VARIABLE,
    REDIS_URL_VARIABLE,
    StackConfig,
    load_config,
)
from devstack.processes import ProcessGroup, stop_processes
from devstack.services import ServicePorts, service_env, service_table, start_services
from services.badges.adapters.definitions import load_catalogue
from services.badges.adapters.repository import StateStore
from services.badges.domain.catalogue import CHALLENGE
from services.badges.domain.model import AWARDED, EmployeeBadges
from services.badges.entrypoints import consumer as badges_consumer
from services.points.adapters.board_index import LeaderboardIndex
from services.points.adapters.rules_file import DEFAULT_RULES, load_rules
from services.points.adapters.store import PointsStore
from services.points.entrypoints import consumer as points_consumer
from services.points.entrypoints.check import check_points
from services.points.entrypoints.rescore import rescore

CHAOS_PORTS = ServicePorts(api_base=38100, health_base=38200)
# The processes killed with SIGKILL: both scoring consumers and the outbox relay.
VICTIMS = ("points-consumer", "badges-consumer", "events-relay")
SERVERS = ("kafka", "ferretdb", "redis")
GROUP_OF = {"points-consumer": points_consumer.GROUP, "badges-consumer": badges_consumer.GROUP}
REWIND_BY = 200  # messages per partition
BATCH = 20
RESEND_EVERY = 5  # every fifth batch is followed by a re-send of an earlier one
HTTP_RETRY_S = 120.0
MIN_UPTIME_S = 4.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """How hard and how long to shake the system."""

    employees: int
    kills: int
    kill_every_s: float
    settle_s: float
    seed: int
    # Times a consumer group is rewound (its consumer stopped, offsets moved back by
    # REWIND_BY, restarted): applied messages redelivered for certain, as a crash between
    # writing and committing does by chance.
    rewinds: int = 2


FULL = Plan(employees=300, kills=60, kill_every_s=1.5, settle_s=600, seed=2026, rewinds=4)
CI = Plan(employees=60, kills=20, kill_every_s=1.5, settle_s=240, seed=2027, rewinds=2)


@dataclass
class Figures:
    """What the run did and found."""

    sent: int = 0
    accepted: set[str] = field(default_factory=set)
    resent: int = 0
    resent_not_200: int = 0
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    kills: int = 0
    kills_by_process: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    restarts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rewinds: int = 0
    rewound_messages: int = 0
    settled: bool = False
    settle_s: float = 0.0
    lost_in_store: list[str] = field(default_factory=list)
    lost_on_topic: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    republished: int = 0
    check_mismatches: list[str] = field(default_factory=list)
    replay_mismatches: list[str] = field(default_factory=list)
    badge_mismatches: list[str] = field(default_factory=list)
    badge_counts_compared: int = 0
    badge_awards_compared: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return len(set(self.lost_in_store) | set(self.lost_on_topic))

    @property
    def mismatches(self) -> int:
        return len(self.check_mismatches) + len(self.replay_mismatches) + len(self.badge_mismatches)


class ChaosFailure(Exception):
    """The run could not go on (a service never came back, a request kept failing)."""


# -- HTTP ---------------------------------------------------------------------------------


def _token(admin: bool) -> str:
    name = "ADMIN_TOKEN" if admin else "SERVICE_TOKEN"
    return os.environ.get(name) or ENVIRONMENT[name]


def http(method: str, url: str, body: Any = None, *, admin: bool = False) -> tuple[int, Any]:
    """One request; retried while the service is unreachable or answers 5xx (a restarted
    database), for at most HTTP_RETRY_S seconds. Returns (status, decoded body)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {_token(admin)}"}
    deadline = time.monotonic() + HTTP_RETRY_S
    while True:
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw.strip() else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            if error.code < 500:
                return error.code, json.loads(raw) if raw.strip() else None
            problem = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            problem = str(error)
        if time.monotonic() > deadline:
            raise ChaosFailure(
                f"{method} {url}: still failing after {HTTP_RETRY_S:.0f}s: {problem}"
            )
        time.sleep(1.0)


# -- the system ---------------------------------------------------------------------------


def chaos_config() -> StackConfig:
    """The chaos instance, always with servers of its own (they are restarted)."""
    own = {KAFKA_URL_VARIABLE, MONGO_URL_VARIABLE, REDIS_URL_VARIABLE}
    return load_config("chaos", {k: v for k, v in os.environ.items() if k not in own})


def settings_of(config: StackConfig, **overrides: Any) -> Settings:
    """Settings pointing at the chaos instance."""
    return Settings.from_env(overrides, environ={**os.environ, **config.service_env()})


@contextmanager
def running_system(config: StackConfig, say: Say) -> Iterator[ProcessGroup]:
    """The chaos stack, fresh, with every process of `make run`; all stopped after."""
    stack.up(config, fresh=True, topics=True, say=lambda _: None)
    env = {
        **service_env(config, CHAOS_PORTS),
        INSTANCE_MARKER_VARIABLE: str(config.stack_dir),
        "LOG_LEVEL": "WARNING",
    }
    group = ProcessGroup(config.logs_dir / "services", env=env)
    try:
        start_services(config, group, say=lambda _: None, services=service_table(CHAOS_PORTS))
        say(f"chaos: stack and {len(group.processes)} processes up (logs {group.log_dir})")
        yield group
    finally:
        group.stop()
        stack.down(config, say=lambda _: None)


def kill_and_restart(group: ProcessGroup, name: str, config: StackConfig) -> bool:
    """SIGKILL one process (no goodbye to its group) and start it again at once."""
    process = group[name]
    if process.exited():
        return False
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.popen.wait(timeout=30)
    start_again(group, name, config)
    return True


def start_again(group: ProcessGroup, name: str, config: StackConfig) -> None:
    """Start an ended process of the group with its command and its own health port."""
    consumers = [s for s in service_table(CHAOS_PORTS) if s.name == name and s.consumer]
    env = {"HEALTH_PORT": str(consumers[0].port)} if consumers else {}
    group.start(name, list(group[name].argv), env=env, cwd=config.root, wait=False)


def restart_server(config: StackConfig, server: str) -> None:
    """Stop one server of the stack (SIGTERM, SIGKILL if it lingers) and start it again."""
    pid = stack.owned_pid(config, config.server(server).pid_file)
    if pid is not None:
        stop_processes([pid], timeout=30)
    stack.up(config, topics=False, say=lambda _: None)


def rewind_group(group: ProcessGroup, name: str, config: StackConfig) -> int:
    """Stop one consumer (it leaves its group), move its group's committed offsets back
    by REWIND_BY on every partition, start it again. Returns the messages it will be
    given a second time."""
    process = group[name]
    stop_processes([process.pid], timeout=30)
    process.popen.wait(timeout=30)
    settings = settings_of(config)
    consumer = KafkaConsumer(
        **client_options(settings), group_id=GROUP_OF[name], enable_auto_commit=False
    )
    try:
        offsets = {}
        for topic in (EVENTS, POINTS, EMPLOYEES):
            for partition in topic_partitions(consumer, topic):
                committed = consumer.committed(partition)
                if committed:
                    offsets[partition] = (committed, max(0, committed - REWIND_BY))
        # A member SIGKILLed just before stays in the group until its session ends: the
        # broker takes an outside commit only once the group is empty.
        deadline = time.monotonic() + 30
        while True:
            try:
                consumer.commit(
                    {tp: OffsetAndMetadata(new, "", -1) for tp, (_, new) in offsets.items()}
                )
                break
            except KafkaError as error:
                if time.monotonic() > deadline:
                    raise ChaosFailure(f"could not rewind {GROUP_OF[name]}: {error}") from error
                time.sleep(1)
    finally:
        consumer.close(autocommit=False)
    start_again(group, name, config)
    return sum(old - new for old, new in offsets.values())


# -- feeding ------------------------------------------------------------------------------


class Feeder:
    """Posts the demo's events in small batches, re-sending some, and keeps the ids the
    events service accepted."""

    def __init__(self, events_url: str, events: list[dict[str, Any]], pause_s: float) -> None:
        self.events_url = events_url
        self.events = events
        self.pause_s = pause_s
        self.figures_lock = threading.Lock()
        self.done = threading.Event()
        self.error: Exception | None = None

    def run(self, figures: Figures) -> None:
        try:
            sent_batches: list[list[dict[str, Any]]] = []
            rng = random.Random(11)
            for number, batch in enumerate(demo.batches(self.events, BATCH), start=1):
                self._post(batch, figures, resend=False)
                sent_batches.append(batch)
                if number % RESEND_EVERY == 0:
                    self._post(rng.choice(sent_batches), figures, resend=True)
                time.sleep(self.pause_s)
        except Exception as error:
            self.error = error
        finally:
            self.done.set()

    def _post(self, batch: list[dict[str, Any]], figures: Figures, resend: bool) -> None:
        status, body = http("POST", f"{self.events_url}/v1/events:batch", {"events": batch})
        if status != 200:
            raise ChaosFailure(f"batch refused with HTTP {status}: {body}")
        with self.figures_lock:
            for result in body["results"]:
                code = int(result["status"])
                if resend:
                    figures.resent += 1
                    if result["id"] in figures.accepted and code != 200:
                        figures.resent_not_200 += 1
                    continue
                figures.sent += 1
                if code in (200, 201):
                    figures.accepted.add(result["id"])
                else:
                    reason = (result.get("error") or {}).get("field") or str(code)
                    figures.refused[f"{code} {reason}"] += 1


def load_reference_data(events_url: str, plan: Plan) -> list[dict[str, Any]]:
    """The demo's catalogue and directory (as an administrator); returns its events."""
    employees = demo.build_directory(plan.seed, plan.employees)
    for collection, item_id, item in demo.build_catalogue(plan.seed):
        http("PUT", f"{events_url}/v1/admin/catalogue/{collection}/{item_id}", item, admin=True)
    for employee in employees:
        http(
            "PUT",
            f"{events_url}/v1/employees/{employee.id}",
            employee.directory_entry(),
            admin=True,
        )
    return demo.build_events(employees, demo.default_end(), plan.seed)


# -- checking -----------------------------------------------------------------------------


def topic_partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of one topic."""
    return [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]


def read_topic(settings: Settings, topic: str) -> list[Record]:
    """Every message of one topic, each partition in its order (a whole topic of a chaos
    run fits in memory)."""
    consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False)
    try:
        partitions = topic_partitions(consumer, topic)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Record] = []
        deadline = time.monotonic() + 120
        while any(consumer.position(p) < ends[p] for p in partitions):
            if time.monotonic() > deadline:
                raise ChaosFailure(f"reading {topic} took over 120 s")
            for messages in consumer.poll(timeout_ms=1000, max_records=5000).values():
                records += [Record.from_message(message) for message in messages]
        return records
    finally:
        consumer.close()


def read_published(settings: Settings) -> tuple[dict[str, set[int]], dict[str, int]]:
    """Every event id on `cercle.events.v1`: the sequences it was published with, and
    how many messages carry it."""
    sequences: dict[str, set[int]] = defaultdict(set)
    copies: dict[str, int] = defaultdict(int)
    for record in read_topic(settings, EVENTS):
        body = json.loads(record.value or b"{}")
        sequences[body["id"]].add(int(body.get("sequence") or -1))
        copies[body["id"]] += 1
    return sequences, copies


def consumer_lag(settings: Settings) -> int:
    """Messages of `cercle.events.v1` not yet committed by the points or badges group."""
    lag = 0
    for group in GROUP_OF.values():
        # Reading a group's committed offsets does not join the group.
        consumer = KafkaConsumer(**client_options(settings), group_id=group)
        try:
            partitions = topic_partitions(consumer, EVENTS)
            ends = consumer.end_offsets(partitions)
            for partition in partitions:
                lag += ends[partition] - (consumer.committed(partition) or 0)
        finally:
            consumer.close(autocommit=False)
    return lag


def wait_until_settled(config: StackConfig, figures: Figures, plan: Plan, say: Say) -> None:
    """Until every accepted id is published and both groups caught up (bounded)."""
    settings = settings_of(config)
    began = time.monotonic()
    deadline = began + plan.settle_s
    last = ""
    while time.monotonic() < deadline:
        try:
            published, _ = read_published(settings)
            missing = len(figures.accepted - set(published))
            lag = consumer_lag(settings)
        except Exception as error:  # the broker may still be electing after its restart
            last = f"not readable yet: {error}"
            time.sleep(2)
            continue
        last = f"{missing} accepted ids not published, consumer lag {lag}"
        if missing == 0 and lag == 0:
            figures.settled = True
            break
        time.sleep(2)
    figures.settle_s = time.monotonic() - began
    if not figures.settled:
        figures.errors.append(f"not settled within {plan.settle_s:.0f}s: {last}")
    outcome = "done" if figures.settled else "timed out"
    say(f"chaos: settle {outcome} in {figures.settle_s:.0f}s ({last})")
    # The points consumer writes its index after the commit's batch: give it a breath.
    time.sleep(3)


def check_events(config: StackConfig, figures: Figures, events_url: str) -> None:
    """Every accepted id stored and published under exactly one sequence."""
    published, copies = read_published(settings_of(config))
    for event_id in sorted(figures.accepted):
        status, _ = http("GET", f"{events_url}/v1/events/{event_id}")
        if status != 200:
            figures.lost_in_store.append(event_id)
        if event_id not in published:
            figures.lost_on_topic.append(event_id)
    for event_id, sequences in published.items():
        if len(sequences) > 1:
            figures.doubled.append(f"{event_id} {sorted(sequences)}")
    figures.republished = sum(count - 1 for count in copies.values() if count > 1)


def points_check(settings: Settings) -> list[str]:
    """`services.points.entrypoints.check`'s mismatches, as printed lines."""
    database = connect(settings, "points", alias="chaos-check")
    try:
        index = LeaderboardIndex.from_settings(settings)
        report = check_points(PointsStore(database), index, settings.org_timezone)
        return [str(mismatch) for mismatch in report.mismatches]
    finally:
        database.client.close()


def period_totals(settings: Settings, alias: str) -> dict[str, dict[str, int]]:
    """employee -> period key -> points, non-zero totals only."""
    database = connect(settings, "points", alias=alias)
    try:
        states = PointsStore(database).load_states()
    finally:
        database.client.close()
    return {
        employee: {key: total[0] for key, total in state.totals.items() if total[0]}
        for employee, state in states.items()
    }


def replay_mismatches(config: StackConfig) -> list[str]:
    """Employees whose live totals differ from a rescore of the topic into a fresh prefix."""
    live = settings_of(config)
    replay = settings_of(config, mongo_db_prefix=f"replay_{uuid.uuid4().hex[:8]}_")
    rescore(replay, load_rules(DEFAULT_RULES), alias="chaos-replay-write")
    expected = period_totals(replay, "chaos-replay-read")
    found = period_totals(live, "chaos-live-read")
    differing = []
    for employee in sorted(set(expected) | set(found)):
        if expected.get(employee, {}) != found.get(employee, {}):
            differing.append(
                f"{employee}: replay {expected.get(employee, {})} live {found.get(employee, {})}"
            )
    return differing


def badge_view(state: EmployeeBadges, challenges: set[str]) -> dict[str, Any]:
    """What of an employee's badges no crash may change: the events counted per badge
    (all of them, so that one counted twice shows), the point totals and the tiers
    awarded (challenges aside: the scheduler settles them when they end)."""
    return {
        "matches": {
            badge: sorted(match.event_id for match in matches)
            for badge, matches in state.matches.items()
            if matches
        },
        "totals": {key: total for key, total in state.totals.items() if total},
        "awarded": sorted(
            key
            for key, award in state.awards.items()
            if award.status == AWARDED and award.badge_id not in challenges
        ),
    }


def badge_mismatches(config: StackConfig, figures: Figures) -> list[str]:
    """Employees whose live badges differ from a clean replay of `cercle.events.v1` and
    `cercle.points.v1` through the badges core (pure, in memory); counts what was compared
    into `figures`."""
    settings = settings_of(config)
    catalogue = load_catalogue()
    challenges = {badge.id for badge in catalogue.badges if badge.kind == CHALLENGE}
    replayed: dict[str, EmployeeBadges] = {}

    def state(employee_id: str) -> EmployeeBadges:
        return replayed.setdefault(employee_id, EmployeeBadges(employee_id=employee_id))

    for record in read_topic(settings, EVENTS):
        event = badges_consumer.decode_event(record)
        if event is not None:
            state(event.employee_id).record_event(event, catalogue, settings.org_timezone)
    for record in read_topic(settings, POINTS):
        entry = badges_consumer.decode_points(record)
        state(entry.employee_id).record_points(entry, catalogue, settings.org_timezone)

    database = connect(settings, "badges", alias="chaos-badges-read")
    try:
        store = StateStore(database)
        live = {employee: store.load(employee)[0] for employee in store.employee_ids()}
    finally:
        database.client.close()
    differing = []
    for employee in sorted(set(replayed) | set(live)):
        expected = badge_view(replayed.get(employee, EmployeeBadges(employee)), challenges)
        figures.badge_counts_compared += sum(len(ids) for ids in expected["matches"].values())
        figures.badge_awards_compared += len(expected["awarded"])
        found = badge_view(live.get(employee, EmployeeBadges(employee)), challenges)
        for part, value in expected.items():
            if found[part] != value:
                differing.append(f"{employee} badges {part}: replay {value} live {found[part]}")
    return differing


# -- the run ------------------------------------------------------------------------------


def shake(
    group: ProcessGroup, config: StackConfig, plan: Plan, feeder: Feeder, figures: Figures, say: Say
) -> None:
    """Kill consumers every `kill_every_s` and restart each server once, until the feed
    is done and every planned kill and restart happened."""
    rng = random.Random(plan.seed)
    started_at: dict[str, float] = {}
    # The servers restart at a quarter, half and three quarters of the planned kills;
    # the groups are rewound in turn, spread in between.
    restart_at = {plan.kills * (n + 1) // 4: server for n, server in enumerate(SERVERS)}
    consumers = sorted(GROUP_OF)
    rewind_at = {
        plan.kills * (2 * n + 1) // (2 * plan.rewinds): consumers[n % len(consumers)]
        for n in range(plan.rewinds)
    }
    while not (feeder.done.is_set() and figures.kills >= plan.kills):
        if feeder.done.is_set() and feeder.error is not None:
            raise ChaosFailure(f"feeding failed: {feeder.error}")
        victim = rng.choice(VICTIMS)
        # Once the planned kills are done, only the feed is awaited; and a process gets a
        # few seconds to start and work before it is killed again.
        ripe = time.monotonic() - started_at.get(victim, 0.0) >= MIN_UPTIME_S
        if figures.kills < plan.kills and ripe and kill_and_restart(group, victim, config):
            started_at[victim] = time.monotonic()
            figures.kills += 1
            figures.kills_by_process[victim] += 1
        rewound = rewind_at.pop(figures.kills, None)
        if rewound is not None:
            figures.rewound_messages += rewind_group(group, rewound, config)
            figures.rewinds += 1
            started_at[rewound] = time.monotonic()
        server = restart_at.pop(figures.kills, None)
        if server is not None:
            began = time.monotonic()
            restart_server(config, server)
            figures.restarts[server] += 1
            say(
                f"chaos: {server} restarted in {time.monotonic() - began:.1f}s "
                f"(kills so far {figures.kills}, events accepted {len(figures.accepted)})"
            )
        time.sleep(plan.kill_every_s * rng.uniform(0.5, 1.5))
    for server in restart_at.values():  # a short feed: the servers not yet restarted
        restart_server(config, server)
        figures.restarts[server] += 1
    for rewound in rewind_at.values():
        figures.rewound_messages += rewind_group(group, rewound, config)
        figures.rewinds += 1


def run(plan: Plan, say: Say = print) -> Figures:
    """The whole chaos run; returns its figures."""
    config = chaos_config()
    figures = Figures()
    with running_system(config, say) as group:
        events_url = f"http://127.0.0.1:{CHAOS_PORTS.events}"
        events = load_reference_data(events_url, plan)
        batches = max(1, len(events) // BATCH)
        planned_s = plan.kills * plan.kill_every_s + 30
        feeder = Feeder(events_url, events, pause_s=max(0.0, planned_s / batches - 0.1))
        say(
            f"chaos: feeding {len(events)} events for {plan.employees} employees, "
            f"{plan.kills} kills planned"
        )
        thread = threading.Thread(target=feeder.run, args=(figures,), daemon=True)
        thread.start()
        try:
            shake(group, config, plan, feeder, figures, say)
        finally:
            thread.join(timeout=HTTP_RETRY_S * 2)
        if feeder.error is not None:
            raise ChaosFailure(f"feeding failed: {feeder.error}")
        say(f"chaos: feed done ({len(figures.accepted)} accepted); waiting to settle")
        wait_until_settled(config, figures, plan, say)
        check_events(config, figures, events_url)
        figures.check_mismatches = points_check(settings_of(config))
        figures.replay_mismatches = replay_mismatches(config)
        figures.badge_mismatches = badge_mismatches(config, figures)
    return figures


def report(figures: Figures, plan: Plan, began: float, say: Say = print) -> bool:
    """Print the figures; True when the run passed."""
    restarts = ", ".join(f"{s} {figures.restarts.get(s, 0)}" for s in SERVERS)
    kills = ", ".join(f"{name} {count}" for name, count in sorted(figures.kills_by_process.items()))
    refused = ", ".join(f"{k}: {v}" for k, v in sorted(figures.refused.items())) or "none"
    say(f"events sent: {figures.sent}, accepted: {len(figures.accepted)} (refused: {refused})")
    say(f"re-sent: {figures.resent} (already accepted, not answered 200: {figures.resent_not_200})")
    say(f"kills done: {figures.kills} ({kills})")
    say(f"restarts done: {restarts}")
    say(f"group rewinds: {figures.rewinds} ({figures.rewound_messages} messages redelivered)")
    say(f"settled: {figures.settled} in {figures.settle_s:.0f}s")
    say(
        f"badges compared with the replay: {figures.badge_counts_compared} counted events, "
        f"{figures.badge_awards_compared} tiers awarded"
    )
    say(
        f"lost: {figures.lost} (not in the store {len(figures.lost_in_store)}, "
        f"not on the topic {len(figures.lost_on_topic)})"
    )
    same = figures.republished
    say(f"doubled: {len(figures.doubled)} (republished with the same sequence: {same})")
    say(
        f"mismatches: {figures.mismatches} (check {len(figures.check_mismatches)}, "
        f"vs clean replay {len(figures.replay_mismatches)}, "
        f"badges vs clean replay {len(figures.badge_mismatches)})"
    )
    found = [
        *figures.doubled,
        *figures.check_mismatches,
        *figures.replay_mismatches,
        *figures.badge_mismatches,
    ]
    for line in found[:15]:
        say(f"  {line}")
    for line in [*figures.lost_in_store, *figures.lost_on_topic][:10]:
        say(f"  lost {line}")
    for error in figures.errors:
        say(f"error: {error}")
    say(f"duration: {time.monotonic() - began:.0f}s")
    passed = (
        figures.settled
        and figures.lost == 0
        and not figures.doubled
        and figures.mismatches == 0
        and figures.resent_not_200 == 0
        and figures.kills >= plan.kills
        and all(figures.restarts.get(server, 0) >= 1 for server in SERVERS)
        and figures.rewinds >= plan.rewinds
        and not figures.errors
    )
    say("chaos: PASSED" if passed else "chaos: FAILED")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/chaos.py", description=__doc__.split("\n")[0])
    parser.add_argument("--ci", action="store_true", help="the bounded run of `make test`")
    parser.add_argument("--kills", type=int, help="SIGKILLs of consumers (at least)")
    parser.add_argument("--employees", type=int, help="employees of the demo organisation")
    args = parser.parse_args(argv)
    plan = CI if args.ci else FULL
    if args.kills is not None:
        plan = Plan(**{**plan.__dict__, "kills": args.kills})
    if args.employees is not None:
        plan = Plan(**{**plan.__dict__, "employees": args.employees})
    began = time.monotonic()
    print(f"chaos: started {datetime.now().isoformat(timespec='seconds')}, plan {plan}", flush=True)
    try:
        figures = run(plan, say=lambda line: print(line, flush=True))
    except (ChaosFailure, stack.StackError) as error:
        print(f"chaos: FAILED: {error} (after {time.monotonic() - began:.0f}s)")
        return 1
    return 0 if report(figures, plan, began) else 1


if __name__ == "__main__":
    sys.exit(main())
