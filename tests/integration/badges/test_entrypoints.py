"""The consumer and the scheduler as the processes they run as (`python -m ...`), against
the real broker and MongoDB wire server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cercle_common.topics import EVENTS
from services.badges.entrypoints.consumer import TOPICS
from tests.integration.badges.conftest import envelope, start_group_at_end, wait_until

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def process_env(settings) -> dict[str, str]:
    return {
        **os.environ,
        "MONGO_DB_PREFIX": settings.mongo_db_prefix,
        "PYTHONPATH": str(REPO),
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def consumer_process(
    settings, process_env, tmp_path
) -> Iterator[tuple[subprocess.Popen, int, Path]]:
    group = f"it-badges-{uuid.uuid4().hex[:10]}"
    start_group_at_end(settings, group, TOPICS)
    port = free_port()
    log = tmp_path / "consumer.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.badges.entrypoints.consumer", "--group", group],
            cwd=REPO,
            env={**process_env, "HEALTH_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    yield process, port, log
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_the_consumer_process_serves_health_awards_and_stops_on_sigterm(
    consumer_process, components, producer, employee_id
):
    process, port, log = consumer_process
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), what="/healthz")
    assert answers(f"http://127.0.0.1:{port}/readyz")
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "cercle_messages_processed_total" in metrics

    producer.send(
        EVENTS,
        key=employee_id.encode(),
        value=envelope(employee_id, 1, content_id="c-1").to_json(),
    )
    producer.flush()
    try:
        wait_until(
            lambda: "first-share:standard" in components.states.load(employee_id)[0].awards,
            seconds=45,
            what="the award written by the consumer process",
        )
    except AssertionError as error:
        raise AssertionError(f"{error}; consumer log: {log.read_text()[-3000:]}") from None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, log.read_text()[-2000:]


def test_the_scheduler_runs_one_pass_and_exits(process_env):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.badges.entrypoints.scheduler",
            "--now",
            "2030-01-01T00:00:00Z",
        ],
        cwd=REPO,
        env={**process_env, "LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "evaluation pass done" in result.stderr
    assert '"challenges_settled": ["new-year-sprint-2027", "team-learning-week-2027"]' in (
        result.stderr
    )
