"""The shared consumer loop against real brokers: it outlives a broker restart (on a
private broker started for the test, so the shared test stack is never stopped) and a
group hands a departed member's partitions to the others within seconds."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from cercle_common.messaging import ConsumerLoop, Record, Rejection, client_options, make_producer
from cercle_common.settings import Settings
from devstack import stack
from devstack.config import REPO_ROOT, Ports, StackConfig, load_config
from devstack.processes import stop_processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_broker() -> Iterator[StackConfig]:
    """A Kafka broker of this test alone (own ports, own data), stopped and removed after."""
    base = load_config("test")
    name = f"it-broker-{uuid.uuid4().hex[:8]}"
    ports = Ports(
        kafka=free_port(),
        kafka_controller=free_port(),
        mongo=free_port(),
        ferretdb_debug=free_port(),
        redis=free_port(),
    )
    config = replace(
        base,
        name=name,
        ports=ports,
        # Only Kafka is this test's own: the database and cache are the test stack's.
        external_mongo=base.mongo_url,
        external_redis=base.redis_url,
    )
    stack.up(config, topics=False, say=lambda _: None)
    try:
        yield config
    finally:
        stack.down(config, say=lambda _: None)
        shutil.rmtree(config.stack_dir, ignore_errors=True)


def stop_broker(config: StackConfig) -> None:
    pid = stack.owned_pid(config, config.server("kafka").pid_file)
    assert pid is not None
    stop_processes([pid], timeout=60)


def create_topic(settings: Settings, partitions: int) -> str:
    name = f"test.resilience.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**client_options(settings))
    admin.create_topics([NewTopic(name, partitions, 1)])
    admin.close()
    return name


def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = make_producer(settings)
    for value in values:
        producer.send(topic, key=value, value=value)
    producer.flush(timeout=60)
    producer.close()


class Collector:
    """A batch handler that remembers what it applied."""

    def __init__(self) -> None:
        self.applied: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, records: Sequence[Record]) -> list[Rejection]:
        with self.lock:
            self.applied.extend(record.value or b"" for record in records)
        return []

    def wait_for(self, expected: set[bytes], within_s: float) -> set[bytes]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            with self.lock:
                seen = set(self.applied)
            if expected <= seen:
                return seen
            time.sleep(0.2)
        with self.lock:
            return set(self.applied)


def test_consumer_outlives_a_broker_restart_and_loses_nothing(
    private_broker: StackConfig,
) -> None:
    # As the super user of its broker (bootstrap address and SASL credentials).
    settings = Settings.from_env(environ=private_broker.service_env())
    topic = create_topic(settings, partitions=3)
    before = [f"before-{n}".encode() for n in range(20)]
    produce(settings, topic, before)
    collector = Collector()
    loop = ConsumerLoop(settings, f"g-{uuid.uuid4().hex[:8]}", [topic], collector, max_backoff_s=2)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert collector.wait_for(set(before), within_s=60) >= set(before)

        stop_broker(private_broker)
        time.sleep(8)  # the consumer polls, heartbeats and reconnects against nothing
        assert thread.is_alive(), "the consumer ended while the broker was down"

        stack.up(private_broker, topics=False, say=lambda _: None)
        after = [f"after-{n}".encode() for n in range(20)]
        produce(settings, topic, after)
        seen = collector.wait_for(set(before + after), within_s=90)
        assert set(before + after) <= seen, f"missing: {set(before + after) - seen}"
        assert thread.is_alive()
    finally:
        loop.stop()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the consumer did not stop when asked"


MEMBER_SCRIPT = """
import sys, time
from cercle_common.messaging import ConsumerLoop
from cercle_common.settings import Settings

def assigned(partitions):
    print("assigned", len(partitions), flush=True)

loop = ConsumerLoop(Settings.from_env(), sys.argv[1], [sys.argv[2]], lambda records: [],
                    on_assign=assigned)
loop.stop_on_signals()
loop.run()
"""


class Member:
    """A group member in a process of its own, which the test can SIGKILL."""

    def __init__(self, group: str, topic: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", MEMBER_SCRIPT, group, topic],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def wait_assigned(self, within_s: float) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + within_s
        for line in self.process.stdout:
            if line.startswith("assigned") and int(line.split()[1]) > 0:
                return
            assert time.monotonic() < deadline, "the member was never given partitions"
        pytest.fail("the member process ended")


def group_member_thread(
    settings: Settings, group: str, topic: str
) -> tuple[ConsumerLoop, threading.Thread, list[tuple[float, set[TopicPartition]]]]:
    assignments: list[tuple[float, set[TopicPartition]]] = []
    loop = ConsumerLoop(
        settings,
        group,
        [topic],
        lambda records: [],
        on_assign=lambda partitions: assignments.append((time.monotonic(), partitions)),
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    return loop, thread, assignments


def wait_for_all(
    assignments: list[tuple[float, set[TopicPartition]]], partitions: int, within_s: float
) -> float | None:
    """When this member first held every partition (monotonic time), or None."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for at, held in list(assignments):
            if len(held) == partitions:
                return at
        time.sleep(0.1)
    return None


@pytest.mark.parametrize("departure", ["stopped", "killed"])
def test_a_departed_members_partitions_move_to_the_others_within_seconds(
    settings: Settings, departure: str
) -> None:
    topic = create_topic(settings, partitions=4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    other = Member(group, topic)
    try:
        other.wait_assigned(within_s=60)
        loop, thread, assignments = group_member_thread(settings, group, topic)
        # Wait until the group is balanced: this member holds some, not all, partitions.
        deadline = time.monotonic() + 60
        while not any(0 < len(held) < 4 for _, held in assignments):
            assert time.monotonic() < deadline, f"never balanced: {assignments}"
            time.sleep(0.1)
        assignments.clear()

        left_at = time.monotonic()
        if departure == "stopped":
            other.process.terminate()  # SIGTERM: the loop leaves the group
        else:
            other.process.kill()  # SIGKILL: the coordinator notices when the session ends
        other.process.wait(timeout=30)
        took_over_at = wait_for_all(assignments, 4, within_s=90)
        loop.stop()
        thread.join(timeout=30)
    finally:
        if other.process.poll() is None:
            other.process.kill()
        other.process.wait(timeout=30)
        if other.process.stdout is not None:
            other.process.stdout.close()
    assert took_over_at is not None, "the partitions never moved"
    delay = took_over_at - left_at
    # With the old settings (45 s session, no prompt rebalance) a kill took about a minute.
    bound = 6.0 if departure == "stopped" else 15.0
    assert delay < bound, f"took {delay:.1f}s after the member was {departure}"
