"""Leaderboard latency at 100,000 employees, through gunicorn over HTTP.

    source <stack env> && .venv/bin/python bench/leaderboard_latency.py [--employees 100000]

1. Stores 100,000 employees' states and directory entries in MongoDB (the source of
   truth), then rebuilds the Redis index from it (`rescore.rebuild_index`), timed.
2. Serves `services.points.entrypoints.app:create_app()` with gunicorn on a free port.
3. For random employees, asks the top 10 (`/v1/leaderboards/employees?period=week`) and
   the caller's rank (`/around/<id>`), and prints p50 / p95 / p99 of each and of the
   pair, with the ratio of the pair's p99 to the 50 ms target.
Everything lives under a prefix of its own, removed at the end."""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import requests
from pymongo import MongoClient

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cercle_common.mongo import connect
from cercle_common.periods import period_keys
from cercle_common.settings import Settings
from services.points.adapters.board_index import LeaderboardIndex
from services.points.adapters.store import PointsStore
from services.points.domain.model import DirectoryEntry, EmployeeState
from services.points.entrypoints.rescore import rebuild_index

TARGET_P99_MS = 50.0


def populate(settings: Settings, employees: int, time_zone: str) -> list[str]:
    store = PointsStore(connect(settings, "points", alias="points-bench"))
    keys = list(period_keys(datetime.now(UTC), time_zone).as_dict().values())
    rng = random.Random(3)
    ids = [f"lb-{n:06d}" for n in range(employees)]
    chunk = 5000
    for start in range(0, employees, chunk):
        states, entries = [], []
        for n in range(start, min(start + chunk, employees)):
            points = rng.randrange(0, 2000)
            sequence = rng.randrange(1, 2**31)
            state = EmployeeState(ids[n], last_sequence=sequence)
            state.totals = {key: [points, sequence] for key in keys}
            states.append(state)
            entries.append(
                DirectoryEntry(
                    employee_id=ids[n],
                    position=n,
                    team=f"team-{n % 400}",
                    site=f"site-{n % 12}",
                    visibility=("visible", "visible", "visible", "pseudonym", "hidden")[n % 5],
                    pseudonym=f"P{n}",
                )
            )
        store.insert_states(states)
        store.insert_directory(entries)
    return ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    prefix = f"bench_{run}_"
    settings = Settings.from_env({"mongo_db_prefix": prefix})
    server = None
    try:
        began = time.perf_counter()
        ids = populate(settings, args.employees, settings.org_timezone)
        print(f"stored {len(ids):,} employees in MongoDB in {time.perf_counter() - began:.1f}s")
        began = time.perf_counter()
        rebuilt = rebuild_index(settings, alias="points-bench-rebuild")
        print(
            f"rebuilt the Redis index from MongoDB for {rebuilt:,} employees "
            f"in {time.perf_counter() - began:.1f}s"
        )

        port = free_port()
        env = {**os.environ, "MONGO_DB_PREFIX": prefix, "LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                "-w",
                str(args.workers),
                "-b",
                f"127.0.0.1:{port}",
                "services.points.entrypoints.app:create_app()",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        # The points API answers Cercle's own components only (the gateway sends its own).
        session.headers["Authorization"] = f"Bearer {settings.service_token}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if session.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)

        rng = random.Random(5)
        top, around, pairs = [], [], []
        for n in range(args.requests + 50):
            employee = rng.choice(ids)
            started = time.perf_counter()
            first = session.get(f"{base}/v1/leaderboards/employees?period=week&first=10")
            middle = time.perf_counter()
            second = session.get(
                f"{base}/v1/leaderboards/employees/around/{employee}?period=week&radius=2"
            )
            ended = time.perf_counter()
            assert first.status_code == 200 and second.status_code == 200, second.text
            if n >= 50:  # the first requests warm the workers' connections up
                top.append((middle - started) * 1000)
                around.append((ended - middle) * 1000)
                pairs.append((ended - started) * 1000)
        body = first.json()
        print(
            f"board size (listed, week): {body['total_count']:,}; top entry: {body['entries'][0]}"
        )
        for name, samples in (("top 10", top), ("around me", around), ("top 10 + rank", pairs)):
            print(
                f"{name:>14}: p50 {statistics.median(samples):6.2f} ms  "
                f"p95 {percentile(samples, 0.95):6.2f} ms  p99 {percentile(samples, 0.99):6.2f} ms"
            )
        p99 = percentile(pairs, 0.99)
        verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
        print(
            f"p99 of top 10 + rank / 50 ms target: {p99 / TARGET_P99_MS:.2f} ({verdict}) "
            f"over {len(pairs)} requests at {args.employees:,} employees"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        client: MongoClient = MongoClient(settings.mongo_url)
        client.drop_database(settings.database_name("points"))
        client.close()
        LeaderboardIndex.from_settings(settings).clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
