"""A small query's latency while a few callers run the most expensive query the gateway
allows, in loops (issue 14). Goal: p99 of the small query under 100 ms.

    source <stack env> && .venv/bin/python bench/gateway_isolation.py \
        [--loads 1x1,1x8,3x3] [--samples 300]

1. The stack of `bench/field_costs.py` (points and badges APIs over a population of
   their own, the gateway in front with the gunicorn arguments `make run` gives it).
2. The most expensive allowed query: for each candidate below, the largest page size the
   gateway accepts (asked with an `operationName` the query does not have: the gateway
   validates the query, cost included, then answers 400 without running it), timed
   there; the slowest is the one looped.
3. The small queries (`{ me { id } }` and the top 5 of the board), timed alone.
4. The same under each of `--loads`: C x L is C callers (a token each) running the
   expensive query in L loops each; 1x1 is the goal's condition, more loops than
   `GATEWAY_MAX_IN_FLIGHT` show the excess refused. A loop refused with 429 tries again
   50 ms later, sooner than `Retry-After` says: an impatient client. Each load stops
   after `--samples` small queries or `--max-s`.

`--gateway-dir` serves the gateway from another checkout (e.g. `git archive HEAD` of an
earlier commit, to compare), `--threads` changes its gunicorn threads and
`--max-in-flight` its `GATEWAY_MAX_IN_FLIGHT`."""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from field_costs import BenchStack, Gateway, bench_stack
from leaderboard_latency import percentile

GOAL_P99_MS = 100.0
RETRY_S = 0.05
# A small query not answered by then counts as taking this long (a worker pinned).
SMALL_TIMEOUT_S = 30.0
LOOP_TIMEOUT_S = 60.0
SMALL = {
    "{ me { id } }": "{ me { id } }",
    "top 5 of the board": (
        "{ leaderboard(first: 5) { edges { node { rank points employee { displayName } } } } }"
    ),
}


def _board(n: int, entry: str, aliases: int = 1) -> str:
    boards = " ".join(
        f"b{a}: leaderboard(first: {n}) {{ edges {{ node {{ {entry} }} }} }}"
        for a in range(aliases)
    )
    return f"query Costly {{ {boards} }}"


WIDE_ENTRY = (
    "rank points isMe onlyVisibleToMe employee"
    " { id displayName team site department country locale active }"
)
# The expensive queries an attacker might send, by their page size.
CANDIDATES: dict[str, Callable[[int], str]] = {
    "issue 14: 3 boards, points rank badges per entry": lambda n: _board(
        n, "employee { points { allTime } rank badges { badgeId } }", 3
    ),
    "a board, points and rank per entry": lambda n: _board(
        n, "employee { points { allTime } rank }"
    ),
    "a board, badges per entry": lambda n: _board(n, "employee { badges { badgeId } }"),
    # 18: the most boards of that selection within 300 fields.
    "18 boards, every free field per entry": lambda n: _board(n, WIDE_ENTRY, 18),
    "me, everything": lambda n: (
        "query Costly { me { points { allTime } rank badges { badgeId }"
        f" badgeProgress {{ badgeId }} ledger(first: {n}) {{ edges {{ node {{ id }} }} }} }} }}"
    ),
}


def allowed(gateway: Gateway, query: str) -> bool:
    """True when the gateway accepts `query` (validated, not run)."""
    response = gateway.session.post(
        gateway.url, json={"query": query, "operationName": "NotThisOne"}, timeout=30
    )
    # Valid, but no operation of that name: 400, and nothing ran.
    return response.status_code == 400


def largest_page(gateway: Gateway, template: Callable[[int], str]) -> int | None:
    """The largest page size from 1 to 100 at which the gateway accepts `template`."""
    if not allowed(gateway, template(1)):
        return None
    low, high = 1, 100
    while low < high:
        middle = (low + high + 1) // 2
        if allowed(gateway, template(middle)):
            low = middle
        else:
            high = middle - 1
    return low


def most_expensive(stack: BenchStack, only: str = "") -> tuple[str, str, float]:
    """The slowest candidate the gateway allows (of those whose name holds `only`):
    (name, query, ms)."""
    gateway = Gateway(stack, stack.with_badges[0])
    print(f"{'candidate':<52} {'first':>5} {'ms':>8}")
    slowest: tuple[str, str, float] | None = None
    for name, template in CANDIDATES.items():
        if only not in name:
            continue
        page = largest_page(gateway, template)
        if page is None:
            print(f"{name:<52} {'-':>5} {'refused at first: 1':>8}")
            continue
        query = template(page)
        ms = max(gateway.ms(query) for _ in range(2))
        print(f"{name:<52} {page:>5} {ms:>8.1f}")
        if slowest is None or ms > slowest[2]:
            slowest = (name, query, ms)
    if slowest is None:
        raise SystemExit("no candidate is allowed")
    return slowest


@dataclass
class Loops:
    """What the attackers' loops saw."""

    durations_ms: list[float] = field(default_factory=list)
    refused: int = 0
    retry_after: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def attack(gateway: Gateway, query: str, stop: threading.Event, loops: Loops) -> None:
    """Run `query` until `stop`, counting answers."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            response = gateway.session.post(
                gateway.url, json={"query": query}, timeout=LOOP_TIMEOUT_S
            )
        except requests.RequestException as error:
            with loops.lock:
                loops.errors.append(repr(error)[:200])
            continue
        elapsed = (time.perf_counter() - started) * 1000
        with loops.lock:
            if response.status_code == 429:
                loops.refused += 1
                loops.retry_after.add(response.headers.get("Retry-After", "none"))
            elif response.status_code == 200 and not response.json().get("errors"):
                loops.durations_ms.append(elapsed)
            else:
                loops.errors.append(f"{response.status_code} {response.text[:200]}")
        if response.status_code == 429:
            stop.wait(RETRY_S)


@dataclass
class Small:
    """The small queries' times (ms) and errors, by query."""

    times: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in SMALL})
    errors: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in SMALL})


def small_queries(gateway: Gateway, samples: int, deadline: float) -> Small:
    """Each small query in turn, `samples` in all (20 ms apart), until `deadline`; one
    unanswered within `SMALL_TIMEOUT_S` counts as taking that long, one answered with an
    error is counted apart."""
    small = Small()
    names = list(SMALL)
    for n in range(samples):
        if time.monotonic() > deadline:
            break
        name = names[n % len(names)]
        started = time.perf_counter()
        with contextlib.suppress(requests.Timeout):
            response = gateway.session.post(
                gateway.url, json={"query": SMALL[name]}, timeout=SMALL_TIMEOUT_S
            )
            if response.status_code != 200 or response.json().get("errors"):
                small.errors[name].append(f"{response.status_code} {response.text[:200]}")
        small.times[name].append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    return small


def report(label: str, small: Small) -> None:
    """p50 and p99 of each small query, beside the goal."""
    for name, samples in small.times.items():
        if not samples:
            print(f"{label:<16} {name:<20} no sample")
            continue
        p99 = percentile(samples, 0.99)
        errors = small.errors[name]
        verdict = "met" if p99 < GOAL_P99_MS and not errors else "NOT met"
        print(
            f"{label:<16} {name:<20} n={len(samples):<4} p50 {percentile(samples, 0.5):7.1f} ms"
            f"  p99 {p99:7.1f} ms  max {max(samples):7.1f} ms, {len(errors)} errors"
            f"  (goal p99 < {GOAL_P99_MS:.0f} ms: {verdict})"
        )
        for error in errors[:1]:
            print(f"  e.g. {error}")


def under_loops(
    stack: BenchStack,
    bystander: Gateway,
    query: str,
    callers: int,
    loops_each: int,
    samples: int,
    max_s: float,
    started_s: float,
) -> None:
    """The small queries while `callers` run `query` in `loops_each` loops each."""
    stop = threading.Event()
    loops = Loops()
    threads = [
        threading.Thread(
            target=attack, args=(Gateway(stack, attacker), query, stop, loops), daemon=True
        )
        for attacker in stack.with_badges[1 : 1 + callers]
        for _ in range(loops_each)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(started_s)  # the loops are running
        loaded = small_queries(bystander, samples, time.monotonic() + max_s)
    finally:
        stop.set()
        ending = time.monotonic() + LOOP_TIMEOUT_S
        for thread in threads:
            thread.join(timeout=max(0.0, ending - time.monotonic()))
    label = f"{callers} x {loops_each} loops"
    print(
        f"{label}: the expensive query {len(loops.durations_ms)} times answered (p50"
        f" {statistics.median(loops.durations_ms or [0]):.0f} ms, max"
        f" {max(loops.durations_ms or [0]):.0f} ms), {loops.refused} refused with 429"
        f" (Retry-After: {', '.join(sorted(loops.retry_after)) or '-'}),"
        f" {len(loops.errors)} other outcomes"
    )
    for error in loops.errors[:2]:
        print(f"  e.g. {error}")
    report(label, loaded)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, default=20_000)
    parser.add_argument("--badge-states", type=int, default=2_000)
    parser.add_argument(
        "--loads",
        default="1x1,1x8,3x3",
        help="callers x loops each, one measure per item (1x1: the goal's condition)",
    )
    parser.add_argument("--samples", type=int, default=300, help="small queries per load")
    parser.add_argument("--max-s", type=float, default=90.0, help="per load")
    parser.add_argument("--gateway-dir", type=Path)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--max-in-flight", type=int, help="default: the setting's")
    parser.add_argument("--only", default="", help="loop a candidate whose name holds this")
    args = parser.parse_args()
    loads = [tuple(int(n) for n in item.split("x")) for item in args.loads.split(",")]
    gateway_argv = None if args.threads is None else [f"--threads={args.threads}"]
    gateway_env = {}
    if args.max_in_flight is not None:
        gateway_env["GATEWAY_MAX_IN_FLIGHT"] = str(args.max_in_flight)
    with bench_stack(
        args.employees,
        args.badge_states,
        gateway_env=gateway_env,
        gateway_dir=args.gateway_dir,
        extra_argv=gateway_argv,
    ) as stack:
        name, query, alone_ms = most_expensive(stack, args.only)
        print(f"looped: {name} ({alone_ms:.0f} ms alone)")
        bystander = Gateway(stack, stack.ids[-1])
        # A connection of its own each time, as many bystanders would have: it lands on
        # whichever worker process accepts it, pinned or not.
        bystander.session.headers["Connection"] = "close"
        small_queries(bystander, 20, time.monotonic() + 30)  # warm up
        report("no loop", small_queries(bystander, args.samples, time.monotonic() + 60))
        for callers, loops_each in loads:
            under_loops(
                stack, bystander, query, callers, loops_each, args.samples, args.max_s,
                min(2.0, alone_ms / 1000),
            )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
