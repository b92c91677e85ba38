"""The leaderboard query (top 10 plus the caller's rank) at 100,000 employees: through
the gateway, and from the points service directly. Prints p50 / p99 and their ratios.

    source <stack env> && .venv/bin/python bench/gateway_leaderboard.py [--employees 100000]

Goal (issue 6): p99 through the gateway under 50 ms, the gateway adding less than half
again to the points service answering directly.

1. Stores the employees in the points service's MongoDB and rebuilds its Redis index,
   with the points benchmark's own loader (`bench/leaderboard_latency.py`), under a
   prefix of this run, removed at the end.
2. Serves the points API and the gateway with gunicorn on free ports. The gateway's
   directory (names) is a small server of this benchmark answering the events service's
   `GET /v1/employees?ids=` for the generated people: names are cached by the gateway
   for seconds, so this path weighs on one request in thousands.
3. Times, for random callers, the points service's two calls (`/leaderboards/employees`
   and `/around/<id>`) one after the other, and the one GraphQL query through the
   gateway (bearer token, rate limit in Redis, GraphQL), with and without names."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from flask import Flask, Response, request
from pymongo import MongoClient
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from leaderboard_latency import free_port, percentile, populate

from cercle_common.settings import Settings
from gateway.auth import issue_dev_token
from services.points.adapters.board_index import LeaderboardIndex
from services.points.entrypoints.rescore import rebuild_index

TARGET_P99_MS = 50.0
TARGET_RATIO = 1.5
WARMUP = 100

WITH_NAMES = """query Board {
  leaderboard(period: ALL_TIME, first: 10) {
    edges { node { rank points employee { displayName } } }
    aroundMe(radius: 0) { rank points }
  }
}"""
RANKS_ONLY = """query Ranks {
  leaderboard(period: ALL_TIME, first: 10) {
    edges { node { rank points } }
    aroundMe(radius: 0) { rank points }
  }
}"""


@contextmanager
def directory_server() -> Iterator[str]:
    """`GET /v1/employees?ids=` for the generated people (all visible, named after their
    id), and `/readyz`; yields its base URL."""

    app = Flask("bench-directory")

    @app.get("/v1/employees")
    def employees() -> Response:
        ids = [i for i in request.args.get("ids", "").split(",") if i]
        body = {
            "employees": [
                {"id": i, "display_name": f"Name of {i}", "visibility": "visible", "active": True}
                for i in ids
            ]
        }
        return Response(json.dumps(body), content_type="application/json")

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def serve(app: str, workers: int, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`app` under gunicorn on a free port, once it answers `/healthz`."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            app,
        ],
        env={**os.environ, **env, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.terminate()
            raise SystemExit(f"{app} did not start")
        time.sleep(0.2)


def timed(call: Callable[[], None], count: int) -> list[float]:
    """Milliseconds of `count` sequential calls, after a warm-up."""
    for _ in range(WARMUP):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    prefix = f"bench_gw_{uuid.uuid4().hex[:8]}_"
    settings = Settings.from_env({"mongo_db_prefix": prefix})
    servers: list[subprocess.Popen[bytes]] = []
    try:
        began = time.perf_counter()
        ids = populate(settings, args.employees, settings.org_timezone)
        rebuilt = rebuild_index(settings, alias="gateway-bench-rebuild")
        print(f"{rebuilt:,} employees scored and indexed in {time.perf_counter() - began:.1f}s")
        with directory_server() as directory:
            points, points_url = serve(
                "services.points.entrypoints.app:create_app()",
                args.workers,
                {"MONGO_DB_PREFIX": prefix},
            )
            servers.append(points)
            gateway, gateway_url = serve(
                "gateway.app:create_app()",
                args.workers,
                {
                    "CERCLE_ENV": "dev",
                    "POINTS_URL": points_url,
                    "EVENTS_URL": directory,
                    "BADGES_URL": directory,
                    # Counted in Redis as always, but never reached by the benchmark.
                    "GATEWAY_RATE_LIMIT": "1000000000",
                },
            )
            servers.append(gateway)
            run_benchmark(settings, ids, points_url, gateway_url, args.requests)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        client: MongoClient = MongoClient(settings.mongo_url)
        client.drop_database(settings.database_name("points"))
        client.close()
        LeaderboardIndex.from_settings(settings).clear()
    return 0


def run_benchmark(
    settings: Settings, ids: list[str], points_url: str, gateway_url: str, count: int
) -> None:
    """Time the three paths and print the figures."""
    rng = random.Random(6)
    callers = [rng.choice(ids) for _ in range(2000)]
    # Tokens are signed before timing: that is the client's cost, not the gateway's.
    tokens = {c: f"Bearer {issue_dev_token(settings, c)}" for c in set(callers)}
    session = requests.Session()
    # The points API answers Cercle's own components only (the gateway sends its own).
    session.headers["Authorization"] = f"Bearer {settings.service_token}"
    board = f"{points_url}/v1/leaderboards/employees"

    def direct() -> None:
        caller = rng.choice(callers)
        top = session.get(f"{board}?period=all&first=10", timeout=10)
        rank = session.get(f"{board}/around/{caller}?period=all&radius=0", timeout=10)
        if top.status_code != 200 or rank.status_code != 200:
            raise RuntimeError(f"points answered {top.status_code}, {rank.status_code}")

    def through_gateway(query: str) -> Callable[[], None]:
        def call() -> None:
            caller = rng.choice(callers)
            response = session.post(
                f"{gateway_url}/graphql",
                json={"query": query},
                headers={"Authorization": tokens[caller]},
                timeout=10,
            )
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise RuntimeError(f"gateway answered {response.status_code}: {body}")

        return call

    results = {
        "points directly (2 calls)": timed(direct, count),
        "gateway, ranks only": timed(through_gateway(RANKS_ONLY), count),
        "gateway, ranks + names": timed(through_gateway(WITH_NAMES), count),
    }
    print(f"top 10 + caller's rank at {len(ids):,} employees, {count} requests each")
    print(f"{'path':<28} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, samples in results.items():
        print(
            f"{name:<28} {percentile(samples, 0.5):>8.2f} {percentile(samples, 0.99):>8.2f}"
            f" {statistics.fmean(samples):>8.2f}"
        )
    base, full = results["points directly (2 calls)"], results["gateway, ranks + names"]
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        ratio = percentile(full, fraction) / percentile(base, fraction)
        verdict = "met" if ratio < TARGET_RATIO else "NOT met"
        print(f"gateway / points {label}: {ratio:.2f}x (goal < {TARGET_RATIO}x: {verdict})")
    p99 = percentile(full, 0.99)
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(f"gateway p99 {p99:.2f} ms (goal < {TARGET_P99_MS:.0f} ms: {verdict})")


if __name__ == "__main__":
    sys.exit(main())
