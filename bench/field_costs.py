"""What the costly fields of the GraphQL schema take, measured through the gateway, beside
the weight the cost model gives them (`gateway/limits.py`, `FIELD_COSTS`): drift shows.

    source <stack env> && .venv/bin/python bench/field_costs.py [--employees 20000]

The cost of an operation is estimated in milliseconds of work (see `gateway/limits.py`);
each weight there cites a run of this benchmark. A field is timed by the difference it
makes: the median of a query with it less the median of the same query without it, per
entry for the fields of a board's entries (a page of `--page` entries). Gateway caches
stay as they are in production (board pages 1 s, names 10 s, the badge catalogue 30 s),
so a field whose answers are cached measures near nothing; the rest pays its calls.

The stack (also used by `bench/gateway_isolation.py`): the points API and the badges API
over `--employees` scored employees and `--badge-states` badge states in MongoDB, and the
gateway in front, each under gunicorn with the arguments `make run` gives it; the
directory is a small server of this benchmark (as in `bench/gateway_leaderboard.py`).
Everything lives under a prefix of its own, removed at the end."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_leaderboard import directory_server
from leaderboard_latency import free_port, populate

from cercle_common.settings import Settings
from devstack.services import GATEWAY_GUNICORN_WORKERS, GUNICORN_WORKERS
from gateway.auth import issue_dev_token
from gateway.limits import FIELD_COSTS, PAGE_ENTRY_COSTS, RESOLVED_FIELD_COST
from services.badges.bootstrap import build as build_badges
from services.badges.domain.model import Award, EmployeeBadges
from services.points.adapters.board_index import LeaderboardIndex
from services.points.entrypoints.rescore import rebuild_index

REPEAT = 25


@dataclass(frozen=True)
class BenchStack:
    """The servers of a run, and what they hold."""

    settings: Settings
    ids: list[str]
    with_badges: list[str]  # the head of the all-time board
    gateway_url: str
    points_url: str
    badges_url: str

    def token(self, employee_id: str) -> str:
        """An `Authorization` header value for `employee_id` (signed before timing)."""
        return f"Bearer {issue_dev_token(self.settings, employee_id)}"


def store_badge_states(settings: Settings, ids: Sequence[str]) -> None:
    """One badge state per employee of `ids`, each with one award, as the consumer
    writes them (the states store's own inserts)."""
    components = build_badges(settings)
    try:
        at = datetime.now(UTC)
        for start in range(0, len(ids), 500):
            states = []
            for employee_id in ids[start : start + 500]:
                award = Award("first-share", "bronze", "active", at, [f"ev-{employee_id}"])
                states.append(
                    (EmployeeBadges(employee_id, awards={"first-share:bronze": award}), None)
                )
            components.states.save_all(states)
    finally:
        components.close()


def serve(
    app: str, argv: Sequence[str], env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    """`app` under gunicorn with `argv` on a free port, once it answers `/healthz`."""
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), *argv, "-b", f"127.0.0.1:{port}", app],
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


def top_of_board(settings: Settings, points_url: str, count: int) -> list[str]:
    """The ids of the first `count` employees listed on the all-time board (those with
    an id: pseudonyms are listed without one)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {settings.service_token}"
    ids: list[str] = []
    after: str | None = None
    while len(ids) < count:
        params: dict[str, Any] = {"period": "all", "first": 100}
        if after is not None:
            params["after"] = after
        answer = session.get(f"{points_url}/v1/leaderboards/employees", params=params).json()
        ids += [e["employee_id"] for e in answer["entries"] if e.get("employee_id")]
        after = answer["page_info"].get("end_cursor")
        if not answer["page_info"].get("has_next_page"):
            break
    return ids[:count]


@contextmanager
def bench_stack(
    employees: int,
    badge_states: int,
    gateway_env: dict[str, str] | None = None,
    gateway_dir: Path | None = None,
    extra_argv: Sequence[str] | None = None,
) -> Iterator[BenchStack]:
    """The points and badges APIs over a population of their own (badge states for the
    head of the all-time board: those who score have badges), and the gateway in front
    (served from `gateway_dir`, another checkout, to compare with a former version; with
    `extra_argv` after `make run`'s gunicorn arguments)."""
    prefix = f"bench_cost_{uuid.uuid4().hex[:8]}_"
    settings = Settings.from_env({"mongo_db_prefix": prefix})
    servers: list[subprocess.Popen[bytes]] = []
    try:
        began = time.perf_counter()
        ids = populate(settings, employees, settings.org_timezone)
        rebuild_index(settings, alias="field-costs-rebuild")
        with directory_server() as directory:
            service_env = {"MONGO_DB_PREFIX": prefix, "EVENTS_URL": directory}
            points, points_url = serve(
                "services.points.entrypoints.app:create_app()", GUNICORN_WORKERS, service_env
            )
            servers.append(points)
            with_badges = top_of_board(settings, points_url, badge_states)
            store_badge_states(settings, with_badges)
            print(
                f"{employees:,} employees scored, badge states for the {badge_states:,} at"
                f" the head of the board, in {time.perf_counter() - began:.1f}s"
            )
            badges, badges_url = serve(
                "services.badges.entrypoints.app:create_app()", GUNICORN_WORKERS, service_env
            )
            servers.append(badges)
            gateway_argv = list(GATEWAY_GUNICORN_WORKERS)
            if gateway_dir is not None:
                gateway_argv += ["--chdir", str(gateway_dir)]
            gateway_argv += extra_argv or []
            gateway, gateway_url = serve(
                "gateway.app:create_app()",
                gateway_argv,
                {
                    "CERCLE_ENV": "dev",
                    "POINTS_URL": points_url,
                    "EVENTS_URL": directory,
                    "BADGES_URL": badges_url,
                    "GATEWAY_RATE_LIMIT": "1000000000",
                    **(gateway_env or {}),
                },
            )
            servers.append(gateway)
            yield BenchStack(settings, ids, with_badges, gateway_url, points_url, badges_url)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        client: MongoClient = MongoClient(settings.mongo_url)
        for service in ("points", "badges"):
            client.drop_database(settings.database_name(service))
        client.close()
        LeaderboardIndex.from_settings(settings).clear()


class Gateway:
    """GraphQL over one keep-alive connection, as one caller."""

    def __init__(self, stack: BenchStack, employee_id: str) -> None:
        self.url = f"{stack.gateway_url}/graphql"
        self.session = requests.Session()
        self.session.headers["Authorization"] = stack.token(employee_id)

    def post(self, query: str, variables: dict[str, Any] | None = None) -> requests.Response:
        """The raw answer to `query`."""
        return self.session.post(
            self.url, json={"query": query, "variables": variables or {}}, timeout=120
        )

    def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """The data of `query`'s answer; fails on any GraphQL error."""
        response = self.post(query, variables)
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"{query!r}: {response.status_code} {body}")
        return body["data"]

    def ms(self, query: str, variables: dict[str, Any] | None = None) -> float:
        """Milliseconds `query` takes; fails on any GraphQL error."""
        started = time.perf_counter()
        self.data(query, variables)
        return (time.perf_counter() - started) * 1000


# A different day each run: the gateway keeps a board page 1 s by its parameters.
Variables = Callable[[int], dict[str, Any]]


def another_day(run: int) -> dict[str, Any]:
    """Variables naming a date of its own for run `run`."""
    return {"at": (date(2026, 1, 1) + timedelta(days=run % 3000)).isoformat()}


def another_employee(ids: Sequence[str]) -> Variables:
    """Variables naming an employee of their own for each run."""
    return lambda run: {"id": ids[(run * 7919) % len(ids)]}


@dataclass(frozen=True)
class Probe:
    """A field, timed as the difference between `with_field` and `without` divided by
    the number of times it is resolved: `times`, or with `board_entries` the number of
    entries with an id on a page of that size (the employee fields of an entry under a
    pseudonym call nothing). `weight` names what the cost model says of it: the field's
    weight, the page entry's, or the resolution of a field read from memory."""

    field: tuple[str, str]
    with_field: str
    without: str
    times: int = 1
    board_entries: int | None = None
    variables: Variables | None = None
    weight: str = "field"
    repeat: int | None = None  # fewer runs for a slow field
    note: str = ""


def board(entry: str, first: int) -> str:
    """A board page with `entry` selected on each entry."""
    return f"{{ leaderboard(first: {first}) {{ edges {{ node {{ {entry} }} }} }} }}"


def probes(page: int, ids: Sequence[str]) -> list[Probe]:
    """The fields timed, each on its own."""
    few = min(page, 4)
    return [
        Probe(("Query", "leaderboard"),
              "query B($at: Date) { leaderboard(first: 10, at: $at) { totalCount } }",
              "{ __typename }", variables=another_day, note="a page not kept yet"),
        Probe(("Query", "leaderboard"),
              "query B($at: Date) { leaderboard(first: 100, at: $at) { totalCount } }",
              "query B($at: Date) { leaderboard(first: 1, at: $at) { totalCount } }",
              times=99, variables=another_day, weight="page entry",
              note="per entry of the page, none read"),
        Probe(("Query", "teamLeaderboard"),
              "query T($at: Date) { teamLeaderboard(first: 10, at: $at) { totalCount } }",
              "{ __typename }", variables=another_day, note="a page not kept yet"),
        Probe(("Query", "badges"), "{ badges { id } }", "{ __typename }",
              note="the catalogue is kept 30 s"),
        Probe(("Query", "me"), "{ me { id } }", "{ __typename }"),
        Probe(("Query", "employee"), "query E($id: ID!) { employee(id: $id) { id } }",
              "{ __typename }", variables=another_employee(ids), note="a name not kept yet"),
        Probe(("Employee", "points"), board("employee { points { allTime } }", page),
              board("rank", page), board_entries=page),
        Probe(("Employee", "rank"), board("employee { rank }", page), board("rank", page),
              board_entries=page),
        Probe(("Employee", "badges"), board("employee { badges { badgeId } }", few),
              board("rank", few), board_entries=few, repeat=7),
        Probe(("Employee", "badgeProgress"), "{ me { badgeProgress { badgeId } } }",
              "{ me { id } }", repeat=7),
        Probe(("Employee", "ledger"), "{ me { ledger(first: 20) { edges { node { id } } } } }",
              "{ me { id } }"),
        Probe(("LeaderboardConnection", "aroundMe"),
              "{ leaderboard(first: 1) { totalCount aroundMe(radius: 2) { rank } } }",
              "{ leaderboard(first: 1) { totalCount } }", note="asked beside the page"),
        # Fields read from answers already fetched: what resolving one more field costs.
        Probe(("*", "resolved field"),
              board("rank points isMe onlyVisibleToMe employee { id displayName }", 100),
              board("rank", 100), times=100 * 5, weight="resolved",
              note="graphql-core executing a field"),
    ]  # fmt: skip


def median_ms(gateway: Gateway, query: str, variables: Variables | None, repeat: int) -> float:
    """The median of `repeat` runs of `query`, after two to warm up."""
    samples = [
        gateway.ms(query, variables(run) if variables else None) for run in range(repeat + 2)
    ]
    return statistics.median(samples[2:])


def with_an_id(gateway: Gateway, first: int) -> int:
    """How many entries of a board page of `first` show an employee's id."""
    answer = gateway.data(board("employee { id }", first))
    return sum(1 for edge in answer["leaderboard"]["edges"] if edge["node"]["employee"]["id"])


def measure(stack: BenchStack, page: int, repeat: int, rounds: int) -> list[list[float]]:
    """Milliseconds each probed field costs, `rounds` times over."""
    gateway = Gateway(stack, (stack.with_badges or stack.ids)[0])
    table = probes(page, stack.ids)
    times = [with_an_id(gateway, p.board_entries) if p.board_entries else p.times for p in table]
    figures: list[list[float]] = [[] for _ in table]
    for _ in range(rounds):
        for n, probe in enumerate(table):
            runs = probe.repeat or repeat
            without = probe.variables if "$" in probe.without else None
            extra = median_ms(gateway, probe.with_field, probe.variables, runs) - median_ms(
                gateway, probe.without, without, runs
            )
            figures[n].append(extra / max(times[n], 1))
    return figures


def weight_of(probe: Probe) -> float:
    """The cost model's weight of what `probe` times (ms)."""
    if probe.weight == "resolved":
        return RESOLVED_FIELD_COST
    if probe.weight == "page entry":
        return PAGE_ENTRY_COSTS.get(probe.field, 0.0)
    return FIELD_COSTS.get(probe.field, 0.0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, default=20_000)
    parser.add_argument("--badge-states", type=int, default=2_000)
    parser.add_argument("--page", type=int, default=20, help="board entries per probe")
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--rounds", type=int, default=2, help="measures of every field")
    args = parser.parse_args()
    # The fields are timed one by one, whatever the limit would say of their queries.
    unlimited = {"GATEWAY_MAX_COST": str(10**9)}
    with bench_stack(args.employees, args.badge_states, unlimited) as stack:
        figures = measure(stack, args.page, args.repeat, args.rounds)
        table = probes(args.page, stack.ids)
    print(f"ms per resolution (median of {args.repeat} runs, less the same without the field)")
    runs = " ".join(f"{'run ' + str(n + 1):>7}" for n in range(args.rounds))
    print(f"{'field':<34} {'weight':>7} {runs}")
    for probe, measured in zip(table, figures, strict=True):
        weight = weight_of(probe)
        mean = statistics.fmean(measured)
        drift = ""
        if weight >= 1 and not 0.5 <= mean / weight <= 2:
            drift = " <- DRIFT: more than 2x from the weight"
        cells = " ".join(f"{figure:>7.3f}" for figure in measured)
        print(f"{'.'.join(probe.field):<34} {weight:>7.3f} {cells}  {probe.note}{drift}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
