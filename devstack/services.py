"""`python -m devstack run`: the whole of Cercle on this machine, in the foreground.

`SERVICES` below is the contract with the service engineers: one row per process, its
command and the port answering `GET /healthz`. Amend it there and nowhere else.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from devstack.config import HOST, INSTANCE_MARKER_VARIABLE, StackConfig
from devstack.demo import DemoLoadError, load_demo
from devstack.processes import (
    ProcessGroup,
    ProcessStartError,
    command_line,
    exit_on_signals,
    is_alive,
    signals_ignored,
)
from devstack.readiness import tcp_open
from devstack.stack import StackError, down, up

Say = Callable[[str], None]

SERVICES_READY_TIMEOUT = 90.0

# The services' Kafka users (cercle_common/kafka_access.py).
EVENTS_USER, POINTS_USER, BADGES_USER = "cercle-events", "cercle-points", "cercle-badges"


@dataclass(frozen=True)
class ServiceProcess:
    """One process of `run`: `python` and `gunicorn` in `argv` mean the project's own
    (from the virtual environment running devstack). Consumers get `HEALTH_PORT`."""

    name: str
    argv: tuple[str, ...]
    port: int
    consumer: bool = False
    # Its own Kafka user (cercle_common/kafka_access.py); None: it never talks to Kafka.
    kafka_principal: str | None = None

    @property
    def health_url(self) -> str:
        """Where the process answers `GET /healthz` once it is up."""
        return f"http://{HOST}:{self.port}/healthz"


# As the Kubernetes kit runs them: threads overlap the waits on the database and the
# services behind, keep connections alive, and a few slow requests cannot hold every
# worker.
GUNICORN_WORKERS = ("--worker-class=gthread", "--workers=2", "--threads=4")
# The gateway mostly waits on the services: more threads, so that the few requests each
# caller may have in flight in a process (GATEWAY_MAX_IN_FLIGHT) cannot hold them all.
GATEWAY_GUNICORN_WORKERS = ("--worker-class=gthread", "--workers=2", "--threads=32")


def _api(
    name: str, app: str, port: int, workers: tuple[str, ...] = GUNICORN_WORKERS
) -> ServiceProcess:
    # A short graceful timeout: stopping `run` should not wait half a minute per API.
    argv = ("gunicorn", *workers, "-b", f"{HOST}:{port}", "--graceful-timeout", "5", app)
    return ServiceProcess(name, argv, port)


def _consumer(name: str, module: str, health_port: int, principal: str) -> ServiceProcess:
    return ServiceProcess(
        name, ("python", "-m", module), health_port, consumer=True, kafka_principal=principal
    )


@dataclass(frozen=True)
class ServicePorts:
    """Where the processes listen: APIs at `api_base` + 0..3, consumers' health at
    `health_base` + 11.. (the e2e tests run the same table on other ports)."""

    api_base: int = 8100
    health_base: int = 9100

    @property
    def gateway(self) -> int:
        return self.api_base

    @property
    def events(self) -> int:
        return self.api_base + 1

    @property
    def points(self) -> int:
        return self.api_base + 2

    @property
    def badges(self) -> int:
        return self.api_base + 3


DEV_PORTS = ServicePorts()


def service_table(ports: ServicePorts = DEV_PORTS) -> tuple[ServiceProcess, ...]:
    """Every process of `run`, in start order (stopped in the reverse one)."""
    return (
        _api("events-api", "services.events.entrypoints.app:create_app()", ports.events),
        _consumer(
            "events-relay", "services.events.entrypoints.relay", ports.health_base + 11, EVENTS_USER
        ),
        _consumer(
            "events-inbound",
            "services.events.entrypoints.consumer",
            ports.health_base + 12,
            EVENTS_USER,
        ),
        _api("points-api", "services.points.entrypoints.app:create_app()", ports.points),
        _consumer(
            "points-consumer",
            "services.points.entrypoints.consumer",
            ports.health_base + 21,
            POINTS_USER,
        ),
        _api("badges-api", "services.badges.entrypoints.app:create_app()", ports.badges),
        _consumer(
            "badges-consumer",
            "services.badges.entrypoints.consumer",
            ports.health_base + 31,
            BADGES_USER,
        ),
        _api("gateway", "gateway.app:create_app()", ports.gateway, GATEWAY_GUNICORN_WORKERS),
    )


SERVICES = service_table()

# The clock that moves time-bound badge criteria (challenge ends, broken streaks); on
# Kubernetes the same command runs as a CronJob, one pass at a time.
BADGES_SCHEDULER = ("python", "-m", "services.badges.entrypoints.scheduler", "--every", "60")

EXAMPLE_QUERY = (
    "{ leaderboard(period: ALL_TIME, first: 10) "
    "{ edges { node { rank points employee { displayName } } } } }"
)


def service_urls(ports: ServicePorts = DEV_PORTS) -> dict[str, str]:
    """The URLs the services call each other at."""
    return {
        "EVENTS_URL": f"http://{HOST}:{ports.events}",
        "POINTS_URL": f"http://{HOST}:{ports.points}",
        "BADGES_URL": f"http://{HOST}:{ports.badges}",
        "GRAPHQL_URL": f"http://{HOST}:{ports.gateway}/graphql",
    }


def service_env(config: StackConfig, ports: ServicePorts = DEV_PORTS) -> dict[str, str]:
    """The environment every service process of `run` gets (besides the current one)."""
    urls = service_urls(ports)
    return {
        **config.service_env(),
        "EVENTS_URL": urls["EVENTS_URL"],
        "POINTS_URL": urls["POINTS_URL"],
        "BADGES_URL": urls["BADGES_URL"],
        # The address a browser would use for Open Badges links (not the internal one).
        "PUBLIC_BASE_URL": f"http://localhost:{ports.badges}",
        "CERCLE_ENV": "dev",
        INSTANCE_MARKER_VARIABLE: str(config.stack_dir),
    }


def resolve_argv(argv: tuple[str, ...], bin_dir: Path) -> list[str]:
    """`python` and `gunicorn` as the virtual environment's own executables."""
    executables = {"python": sys.executable, "gunicorn": str(bin_dir / "gunicorn")}
    return [executables.get(argv[0], argv[0]), *argv[1:]]


def start_services(
    config: StackConfig,
    group: ProcessGroup,
    say: Say = print,
    services: tuple[ServiceProcess, ...] = SERVICES,
) -> None:
    """Start every row of `services` and wait until each answers `/healthz`."""
    bin_dir = Path(sys.executable).parent
    for service in services:
        # Each process is its own Kafka principal, never the super user of the stack.
        env = config.kafka_credentials(service.kafka_principal)
        if service.consumer:
            env["HEALTH_PORT"] = str(service.port)
        group.start(
            service.name,
            resolve_argv(service.argv, bin_dir),
            env=env,
            cwd=config.root,
            ready_url=service.health_url,
            wait=False,
        )
        say(f"run: {service.name} starting (log {group[service.name].log_file})")
    group.wait_ready(timeout=SERVICES_READY_TIMEOUT)
    say(f"run: {len(services)} processes ready")


def summary(config: StackConfig) -> str:
    """One `name: address` line per part, and a GraphQL query to try."""
    urls = service_urls()
    parts = {
        "graphql": urls["GRAPHQL_URL"],
        "events-api": urls["EVENTS_URL"],
        "points-api": urls["POINTS_URL"],
        "badges-api": urls["BADGES_URL"],
        "kafka": config.kafka_bootstrap,
        "mongo": config.mongo_url,
        "redis": config.redis_url,
        "logs": str(config.logs_dir),
    }
    lines = [f"{name}: {address}" for name, address in parts.items()]
    body = '{"query": "' + EXAMPLE_QUERY + '"}'
    lines += [
        "",
        "try:",
        f"  curl -s {parts['graphql']} -H 'Content-Type: application/json' \\",
        f"    -d '{body}'",
        "",
        "Ctrl-C (or `python -m devstack down`) stops everything.",
    ]
    return "\n".join(lines)


def _claim_run(config: StackConfig) -> None:
    """Record this process as the instance's `run`, refusing a second one."""
    try:
        other = int(config.run_pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        other = None
    if other and other != os.getpid() and is_alive(other) and "devstack" in command_line(other):
        raise StackError(f"`run` already runs for {config.name!r} (pid {other})")
    busy = [s for s in SERVICES if tcp_open(HOST, s.port)]
    if busy:
        taken = ", ".join(f"{s.name} ({s.port})" for s in busy)
        raise StackError(f"ports already taken by other programs: {taken}")
    config.pids_dir.mkdir(parents=True, exist_ok=True)
    config.run_pid_file.write_text(f"{os.getpid()}\n")


def run(config: StackConfig, *, demo: bool = True, fresh: bool = False, say: Say = print) -> int:
    """Start the stack and every service, load the demo, and stay until Ctrl-C or
    SIGTERM; then stop the services and the stack. Returns the exit code."""
    _claim_run(config)
    group = ProcessGroup(config.logs_dir, env=service_env(config), pid_dir=config.services_pids_dir)
    code = 0
    try:
        with exit_on_signals():
            up(config, fresh=fresh, topics=True, say=say)
            start_services(config, group, say)
            group.start(
                "badges-scheduler",
                resolve_argv(BADGES_SCHEDULER, Path(sys.executable).parent),
                env=config.kafka_credentials(BADGES_USER),
                cwd=config.root,
            )
            if demo:
                _load_demo(say)
            say("")
            say(summary(config))
            code = _supervise(group, say)
    except KeyboardInterrupt:
        _never_failing(say)("\nrun: stopping ...")
    except SystemExit as stop:
        _never_failing(say)("\nrun: stopping (signal) ...")
        code = 0 if stop.code in (0, 143, 129) else 1
    except (StackError, ProcessStartError) as error:
        say(f"run: {error}")
        code = 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave processes behind, nor
        # must a closed terminal or pipe (`run | tee` after Ctrl-C) when it reports.
        with signals_ignored():
            group.stop()
            down(config, say=_never_failing(say))
            config.run_pid_file.unlink(missing_ok=True)
    return code


def _never_failing(say: Say) -> Say:
    def report(message: str) -> None:
        with suppress(OSError):
            say(message)

    return report


def _load_demo(say: Say) -> None:
    urls = service_urls()
    try:
        load_demo(urls["EVENTS_URL"], urls["POINTS_URL"], say=say)
    except DemoLoadError as error:
        # The services may still be incomplete: say so, and keep them running to debug.
        say(f"run: loading the demo failed, carrying on without it: {error}")


def _supervise(group: ProcessGroup, say: Say) -> int:
    """Wait for a signal; if a process ends on its own, show why and stop (exit 1)."""
    while True:
        ended = group.exited()
        if ended:
            for process in ended:
                say(
                    f"run: {process.name} exited with code {process.popen.returncode}\n"
                    f"{group.log_tail(process.name)}"
                )
            return 1
        time.sleep(1.0)
