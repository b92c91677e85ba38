"""Start, check and stop the servers of one stack instance (`up`, `status`, `down`).

The servers run detached from the command that started them, with their pid in
`.stack/<name>/pids/<server>.pid`, their output in `.stack/<name>/logs/<server>.log`, and
the instance marker in their environment, so that `down` finds them even without pid files.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack.config import (
    HOST,
    INSTANCE_MARKER_VARIABLE,
    StackConfig,
    dev_kafka_password,
    read_server_properties_template,
    render_env_file,
    render_server_properties,
)
from devstack.install import install
from devstack.processes import (
    command_line,
    environment_entries,
    find_processes,
    format_tail,
    is_alive,
    reap,
    spawn,
    stop_processes,
)
from devstack.readiness import (
    check_kafka,
    check_mongo,
    check_redis,
    kafka_options_from_env,
    tcp_open,
)

Say = Callable[[str], None]

# Kafka formats its storage and starts a JVM: on two cores that takes a while.
START_TIMEOUTS = {"kafka": 120.0, "ferretdb": 30.0, "redis": 15.0}
EXTERNAL_TIMEOUT = 15.0
# Kafka's controlled shutdown flushes and closes every partition.
STOP_TIMEOUT = 30.0
RUN_STOP_TIMEOUT = 90.0


# The servers outlive the command that started them (`down` stops them by pid). Their
# `Popen` objects are kept so that collecting them does not warn that they still run.
_DETACHED_SERVERS: list[subprocess.Popen[bytes]] = []


def _forget_ended_servers() -> None:
    """Reap the servers this process started that have ended since."""
    _DETACHED_SERVERS[:] = [popen for popen in _DETACHED_SERVERS if popen.poll() is None]


class StackError(Exception):
    """The stack could not be started or stopped; the message says why (with log tails)."""


@dataclass(frozen=True)
class ServerStatus:
    """What `status` knows of one server."""

    name: str
    pid: int | None
    answering: bool


def _probe(config: StackConfig, server: str) -> str | None:
    """None when `server` answers, else why not."""
    if server == "kafka":
        return check_kafka(config.kafka_bootstrap, config.kafka_probe_options)
    if server == "ferretdb":
        return check_mongo(config.mongo_url)
    return check_redis(config.redis_url)


def _ports(config: StackConfig, server: str) -> dict[str, int]:
    """Every port a server binds, by the setting that moves it."""
    ports = config.ports
    return {
        "kafka": {"CERCLE_KAFKA_PORT": ports.kafka,
                  "CERCLE_KAFKA_CONTROLLER_PORT": ports.kafka_controller},
        "ferretdb": {"CERCLE_MONGO_PORT": ports.mongo,
                     "CERCLE_FERRETDB_DEBUG_PORT": ports.ferretdb_debug},
        "redis": {"CERCLE_REDIS_PORT": ports.redis},
    }[server]  # fmt: skip


def owned_pid(config: StackConfig, pid_file: Path) -> int | None:
    """The live pid recorded in `pid_file` if it is one of this instance's processes
    (guards against a recycled pid), else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not is_alive(pid):
        return None
    marker = f"{INSTANCE_MARKER_VARIABLE}={config.stack_dir}".encode()
    if marker in environment_entries(pid) or str(config.stack_dir) in command_line(pid):
        return pid
    return None


def status(config: StackConfig) -> list[ServerStatus]:
    """The pid (if running) and health of each server this instance manages."""
    return [
        ServerStatus(
            name=server,
            pid=owned_pid(config, config.server(server).pid_file),
            answering=_probe(config, server) is None,
        )
        for server in config.managed_servers()
    ]


def up(config: StackConfig, *, fresh: bool = False, topics: bool = True, say: Say = print) -> None:
    """Install what is missing, start the servers not yet running, wait until each
    answers, write `.stack/<name>/env` and create the topics. Idempotent."""
    install(config, say)
    _forget_ended_servers()
    if fresh:
        down(config, say=say)
        say(f"up: --fresh: wiping {config.data_dir}")
        shutil.rmtree(config.data_dir, ignore_errors=True)
    for folder in (config.logs_dir, config.pids_dir, config.conf_dir, config.data_dir):
        folder.mkdir(parents=True, exist_ok=True)
    _check_external(config, say)

    started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for server in config.managed_servers():
            pid = owned_pid(config, config.server(server).pid_file)
            if pid is not None:
                say(f"up: {server} already running (pid {pid})")
                continue
            started[server] = _start(config, server, say)
        _wait_started(config, started, say)
        _DETACHED_SERVERS.extend(popen for popen, _ in started.values())
    except BaseException:
        # Whatever failed (or a Ctrl-C), leave no half-started server behind.
        stop_processes([popen.pid for popen, _ in started.values()], timeout=STOP_TIMEOUT)
        for server, (popen, _) in started.items():
            popen.wait()
            config.server(server).pid_file.unlink(missing_ok=True)
        raise

    config.env_file.write_text(render_env_file(config))
    say(f"up: stack {config.name!r} ready; environment in {config.env_file}:")
    for line in render_env_file(config).splitlines():
        say(f"  {line}")
    if "kafka" in config.managed_servers():
        apply_kafka_access(config, say)
    if topics:
        create_topics(config, say)


def _start(config: StackConfig, server: str, say: Say) -> tuple[subprocess.Popen[bytes], int]:
    """Start one server; returns its process and where its output starts in its log."""
    for variable, port in _ports(config, server).items():
        if tcp_open(HOST, port):
            raise StackError(
                f"port {port} ({server}) is already taken by another program: "
                f"stop it, or choose another port with {variable}=..."
            )
    spec = config.server(server)
    env = {**os.environ, INSTANCE_MARKER_VARIABLE: str(config.stack_dir)}
    if server == "kafka":
        _prepare_kafka(config, env, say)
    elif server == "ferretdb":
        (config.data_dir / "ferretdb").mkdir(parents=True, exist_ok=True)
    else:
        (config.data_dir / "redis").mkdir(parents=True, exist_ok=True)
    popen, offset = spawn(server, spec.argv, spec.log_file, env=env, cwd=config.stack_dir)
    spec.pid_file.write_text(f"{popen.pid}\n")
    say(f"up: {server} starting on {HOST}:{spec.port} (pid {popen.pid}, log {spec.log_file})")
    return popen, offset


def _prepare_kafka(config: StackConfig, env: dict[str, str], say: Say) -> None:
    """Render server.properties, and format the KRaft storage before the first start."""
    config.server_properties_file.write_text(
        render_server_properties(config, read_server_properties_template())
    )
    if (config.kafka_data_dir / "meta.properties").exists():
        if not config.kafka_sasl_marker.exists():
            raise StackError(
                f"the Kafka data of {config.name!r} was formatted before the broker used "
                f"SASL (it has no super user): start it once with "
                f"`python -m devstack up --name {config.name} --fresh` (or `make clean`)"
            )
        return
    cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    say(f"up: formatting kafka storage in {config.kafka_data_dir} (cluster {cluster_id})")
    result = subprocess.run(
        config.kafka_format_argv(cluster_id), env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise StackError(f"formatting kafka storage failed:\n{output}")
    config.kafka_sasl_marker.write_text("formatted with the SCRAM super user\n")


def _wait_started(
    config: StackConfig, started: dict[str, tuple[subprocess.Popen[bytes], int]], say: Say
) -> None:
    """Wait for every server: those just started until their deadline, others once."""
    begin = time.monotonic()
    pending = set(config.managed_servers())
    while pending:
        for server in sorted(pending):
            problem = _probe(config, server)
            if problem is None:
                say(f"up: {server} ready ({time.monotonic() - begin:.1f}s)")
                pending.discard(server)
                continue
            spec = config.server(server)
            if server not in started:
                raise StackError(
                    f"{server} runs (pid file {spec.pid_file}) but does not answer: {problem}; "
                    f"try `python -m devstack down --name {config.name}` first"
                )
            popen, offset = started[server]
            if popen.poll() is not None:
                raise StackError(
                    f"{server} exited with code {popen.returncode} during start-up\n"
                    f"{format_tail(spec.log_file, 40, offset)}"
                )
            if time.monotonic() - begin > START_TIMEOUTS[server]:
                raise StackError(
                    f"{server} did not answer on {HOST}:{spec.port} within "
                    f"{START_TIMEOUTS[server]:.0f}s (last probe: {problem})\n"
                    f"{format_tail(spec.log_file, 40, offset)}"
                )
        if pending:
            time.sleep(0.5)


def _check_external(config: StackConfig, say: Say) -> None:
    """Servers given by address are not ours to start, but they must answer."""
    external: dict[str, tuple[str | None, Callable[[str], str | None]]] = {
        "kafka": (
            config.external_kafka,
            lambda address: check_kafka(address, kafka_options_from_env(os.environ)),
        ),
        "mongo": (config.external_mongo, check_mongo),
        "redis": (config.external_redis, check_redis),
    }
    for name, (address, probe) in external.items():
        if address is None:
            continue
        deadline = time.monotonic() + EXTERNAL_TIMEOUT
        while (problem := probe(address)) is not None:
            if time.monotonic() > deadline:
                raise StackError(f"{name} at {address} (from the environment): {problem}")
            time.sleep(1.0)
        say(f"up: {name} given by the environment: {address} answers")


def apply_kafka_access(config: StackConfig, say: Say = print) -> None:
    """Give every principal of cercle_common/kafka_access.py its development password and
    its ACLs on the local broker (idempotent: run after each start)."""
    from kafka.admin import KafkaAdminClient

    from cercle_common.kafka_access import ACCESS, apply_access

    admin = KafkaAdminClient(
        bootstrap_servers=config.kafka_bootstrap,
        client_id="devstack-access",
        **config.kafka_probe_options,
    )
    try:
        changes = apply_access(admin, {name: dev_kafka_password(name) for name in ACCESS})
    finally:
        admin.close()
    say(
        f"up: kafka access: {len(ACCESS)} principals, "
        f"{changes['created']} ACLs created, {changes['removed']} removed"
    )


def create_topics(config: StackConfig, say: Say = print) -> None:
    """Create the project's topics with `python -m cercle_common.topics create`."""
    try:
        available = importlib.util.find_spec("cercle_common.topics") is not None
    except ModuleNotFoundError:
        available = False
    if not available:
        say("up: cercle_common.topics not found: topics not created")
        return
    env = {**os.environ, **config.service_env()}
    result = subprocess.run(
        [sys.executable, "-m", "cercle_common.topics", "create"],
        cwd=config.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise StackError(f"creating topics failed (exit {result.returncode}):\n{output}")
    say(f"up: {output.splitlines()[-1] if output else 'topics created'}")


def instance_processes(config: StackConfig) -> list[int]:
    """Every live process of this instance, found by its pid file, its command line or
    the instance marker in its environment (never this process nor a `run`)."""
    pids: set[int] = set()
    pid_files = [*config.pids_dir.glob("*.pid"), *config.services_pids_dir.glob("*.pid")]
    for pid_file in pid_files:
        if pid_file == config.run_pid_file:
            continue
        pid = owned_pid(config, pid_file)
        if pid is not None:
            pids.add(pid)
    needles = [
        # The servers' command lines name folders of the instance; the services' do not,
        # they carry the marker instead.
        str(config.server_properties_file),
        f"--state-dir={config.data_dir / 'ferretdb'}",
        f"--dir {config.data_dir / 'redis'}",
    ]
    pids.update(
        find_processes(
            command_contains=needles,
            environ_has=(INSTANCE_MARKER_VARIABLE, str(config.stack_dir)),
        )
    )
    pids.discard(os.getpid())
    return sorted(pids)


def stop_run(config: StackConfig, say: Say = print) -> None:
    """Ask a foreground `run` of this instance to stop (it then stops its processes and
    the stack), and wait for it."""
    try:
        pid = int(config.run_pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    if pid == os.getpid():
        # `run --fresh` stopping its own stack: the pid file stays, for `down` to find it.
        return
    if is_alive(pid) and "devstack" in command_line(pid):
        say(f"down: stopping `run` (pid {pid}) ...")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + RUN_STOP_TIMEOUT
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if is_alive(pid):
            say(f"down: `run` (pid {pid}) did not stop in time; killing it")
            os.kill(pid, signal.SIGKILL)
    config.run_pid_file.unlink(missing_ok=True)


def down(config: StackConfig, say: Say = print) -> None:
    """Stop everything this instance started (a `run`, its services, the servers), then
    check that nothing is left. SIGTERM first, SIGKILL after a bounded wait."""
    stop_run(config, say)
    pids = instance_processes(config)
    if pids:
        names = ", ".join(f"{pid} ({_short(command_line(pid))})" for pid in pids)
        say(f"down: stopping {names}")
        killed = stop_processes(pids, timeout=STOP_TIMEOUT)
        # In `run`, the servers are children of this very process.
        reap(pids)
        if killed:
            say(f"down: {', '.join(map(str, killed))} ignored SIGTERM and were killed")
    _forget_ended_servers()
    left = instance_processes(config)
    if left:
        raise StackError(f"processes of {config.name!r} still running: {left}")
    for pid_file in [*config.pids_dir.glob("*.pid"), *config.services_pids_dir.glob("*.pid")]:
        pid_file.unlink(missing_ok=True)
    config.env_file.unlink(missing_ok=True)
    say(f"down: stack {config.name!r} stopped" if pids else f"down: {config.name!r} not running")


def _short(command: str, width: int = 60) -> str:
    return command if len(command) <= width else command[: width - 3] + "..."


def known_instances(root: Path) -> list[str]:
    """Instances that have a folder under `.stack/`."""
    stack_root = root / ".stack"
    if not stack_root.is_dir():
        return []
    return sorted(entry.name for entry in stack_root.iterdir() if entry.is_dir())
