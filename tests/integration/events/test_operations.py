"""Operating the service: readiness without Kafka, relay through a Kafka outage, metrics,
the CSV import and re-submitting a dead letter."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import mongoengine
import requests

from cercle_common.messaging import make_producer
from cercle_common.settings import Settings
from cercle_common.topics import DEADLETTER, EVENTS, INBOUND_TOPICS
from services.events.adapters.event_store import ALIAS
from services.events.entrypoints.app import create_app
from services.events.entrypoints.consumer import build_loop
from services.events.entrypoints.deadletters import main as deadletters_main
from services.events.entrypoints.deadletters import read_dead_letters
from services.events.entrypoints.import_employees import import_rows
from services.events.entrypoints.relay import Relay
from services.events.handlers import Directory

DEAD_KAFKA = "127.0.0.1:1"


def test_api_stays_ready_and_accepting_while_kafka_is_down(settings: Settings) -> None:
    offline = Settings.from_env(
        {"mongo_db_prefix": settings.mongo_db_prefix, "kafka_bootstrap_servers": DEAD_KAFKA}
    )
    app = create_app(offline)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {offline.service_token}"
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json["checked"] == ["mongo"]
        employee = f"emp-{uuid.uuid4().hex[:8]}"
        body = {"display_name": "Di", "email": "di@example.org"}
        admin = {"Authorization": f"Bearer {offline.admin_token}"}
        assert client.put(f"/v1/employees/{employee}", json=body, headers=admin).status_code == 201
        event = {
            "id": f"ev-{uuid.uuid4().hex}",
            "type": "charter.acknowledged",
            "occurred_at": datetime.now(UTC).isoformat(),
            "employee_id": employee,
            "source": "gateway",
            "data": {"charter_id": "social-media", "version": "2026"},
        }
        assert client.post("/v1/events", json=event).status_code == 201
    finally:
        store = app.extensions["cercle_events.ingestion"].store
        store.db.client.drop_database(offline.database_name("events"))
        mongoengine.disconnect(alias=ALIAS)


def test_relay_keeps_the_outbox_while_kafka_is_down(
    settings: Settings, client, store, new_employee, make_share, tail
) -> None:
    event = make_share(new_employee())
    client.post("/v1/events", json=event)
    port = _free_port()
    env = {
        **os.environ,
        "MONGO_DB_PREFIX": settings.mongo_db_prefix,
        "KAFKA_BOOTSTRAP_SERVERS": DEAD_KAFKA,
        "HEALTH_PORT": str(port),
    }
    # In its own process: the relay retries with backoff, stays alive and loses nothing.
    relay_process = subprocess.Popen(
        [sys.executable, "-m", "services.events.entrypoints.relay"], env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        retries = 0.0
        while time.monotonic() < deadline and retries < 1:
            try:
                metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                retries = _sample(metrics, "cercle_events_relay_retries_total")
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        assert retries >= 1 and relay_process.poll() is None
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    finally:
        relay_process.terminate()
        relay_process.communicate(timeout=30)
    assert relay_process.returncode == 0
    assert store.count_pending() == 1  # nothing lost, nothing marked

    events_tail = tail(EVENTS)
    relay = Relay(store, lambda: make_producer(settings))
    relay.run_once()
    relay.close()
    events_tail.wait_for(lambda ms: any(json.loads(m.value)["id"] == event["id"] for m in ms))
    assert store.count_pending() == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sample(metrics_text: str, name: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_accepted_and_rejected(client, new_employee, make_share) -> None:
    client.post("/v1/events", json=make_share(new_employee()))
    client.post("/v1/events", json=make_share("nobody"))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'cercle_events_accepted_total{path="http",type="content.shared"}' in text
    assert 'cercle_events_rejected_total{code="unknown_employee",path="http"}' in text


def test_csv_import_saves_valid_rows_and_reports_bad_ones(store) -> None:
    first, second = f"emp-{uuid.uuid4().hex[:8]}", f"emp-{uuid.uuid4().hex[:8]}"
    csv_text = (
        "id,display_name,email,team,site,fte,visibility,pseudonym,active\n"
        f"{first},Ann Lee,ann@example.org,growth,paris,0.5,pseudonym,Comet,true\n"
        f"{second},Bo,not-an-email,ops,lyon,1,visible,,yes\n"
    )
    report = io.StringIO()
    assert import_rows(Directory(store), io.StringIO(csv_text), report) == (1, 0, 1)
    assert "line 3: email" in report.getvalue()
    assert store.find_employee(first)["fte"] == 0.5
    assert store.find_employee(second) is None
    # Re-importing the same file changes nothing and publishes nothing new.
    assert import_rows(Directory(store), io.StringIO(csv_text), io.StringIO()) == (0, 1, 1)


def test_dead_letter_resubmitted_after_the_fix_is_accepted(
    settings: Settings,
    client,
    store,
    new_employee,
    make_share,
    tail,
    monkeypatch,
    admin_headers,
    inbound_group,
) -> None:
    group = inbound_group
    dead = tail(DEADLETTER)
    late_hire = f"emp-{uuid.uuid4().hex[:10]}"
    event = make_share(late_hire)
    producer = make_producer(settings)
    producer.send(
        INBOUND_TOPICS["social-tracker"], key=late_hire.encode(), value=json.dumps(event).encode()
    )
    producer.flush()
    producer.close()

    loop = build_loop(settings, group, store)
    runner = threading.Thread(target=loop.run, daemon=True)
    runner.start()
    try:
        dead.wait_for(lambda ms: any(m.key == late_hire.encode() for m in ms))
        letters = read_dead_letters(settings, group)
        letter = next(found for found in letters if found.key == late_hire.encode())
        hired = client.put(
            f"/v1/employees/{late_hire}",
            json={"display_name": "Cy", "email": "cy@example.org"},
            headers=admin_headers,
        )
        assert hired.status_code == 201
        monkeypatch.setenv("MONGO_DB_PREFIX", settings.mongo_db_prefix)
        out = io.StringIO()
        assert deadletters_main(["--group", group, "resubmit", letter.position], out) == 0
        assert "1 re-submitted" in out.getvalue()
        deadline = time.monotonic() + 30
        while store.find_event(event["id"]) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.find_event(event["id"]) is not None
    finally:
        loop.stop()
        runner.join(timeout=30)
