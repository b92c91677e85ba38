"""Start, watch and stop a group of named processes, each logging to its own file.

Used by `python -m devstack run` and by the end-to-end tests::

    group = ProcessGroup(log_dir)
    group.start("events-api", ["gunicorn", ...], env={...}, ready_url="http://127.0.0.1:8101/healthz")
    ...
    group.stop()

`ProcessGroup` is also a context manager, and it stops what it started when the
interpreter exits. Every process gets a session of its own, so that a Ctrl-C in the
terminal reaches only the controlling Python process, which then stops the group in order
(a process and all its children, e.g. gunicorn's workers).

Give the group `env={"CERCLE_DEVSTACK_INSTANCE": str(config.stack_dir)}` (see
`devstack.config.INSTANCE_MARKER_VARIABLE`) and `python -m devstack down --name <instance>`
also stops its processes, should the program that started them die without stopping them.

The lower-level functions (`stop_processes`, `find_processes`, `is_alive`) work on any
pid, including processes started by another devstack invocation.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

DEFAULT_READY_TIMEOUT = 60.0
DEFAULT_STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 40


class ProcessStartError(Exception):
    """A process exited during start-up or did not become ready in time.

    The message names the process and ends with the tail of its log.
    """


@dataclass
class ManagedProcess:
    """One process of a group."""

    name: str
    argv: tuple[str, ...]
    popen: subprocess.Popen[bytes]
    log_file: Path
    ready_url: str | None = None
    ready: bool = False
    # Where this run's output starts in the (appended) log file, so tails skip older runs.
    log_offset: int = 0
    pid_file: Path | None = field(default=None)

    @property
    def pid(self) -> int:
        """The process id (also its process-group id)."""
        return self.popen.pid

    def exited(self) -> bool:
        """True once the process has ended."""
        return self.popen.poll() is not None


class ProcessGroup:
    """Named subprocesses with a log file each, an optional readiness URL, stopped together.

    `env` applies to every process (over the current environment); `pid_dir`, when given,
    receives `<name>.pid` files so that another program can find the processes.
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        pid_dir: Path | None = None,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.pid_dir = Path(pid_dir) if pid_dir is not None else None
        self.stop_timeout = stop_timeout
        self._env = dict(env or {})
        self._processes: dict[str, ManagedProcess] = {}
        self._atexit_registered = False

    @property
    def processes(self) -> list[ManagedProcess]:
        """The processes started so far, in start order."""
        return list(self._processes.values())

    def __getitem__(self, name: str) -> ManagedProcess:
        return self._processes[name]

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_url: str | None = None,
        wait: bool = True,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
    ) -> ManagedProcess:
        """Start `argv` as process `name`, output appended to `<log_dir>/<name>.log`.

        The environment is the current one, then the group's `env`, then this `env`.
        With `ready_url` and `wait` (the default), returns once the URL answers 200; raises
        `ProcessStartError` (with the log tail) if the process exits or `ready_timeout`
        passes first (a process that is late stays in the group: `stop()` ends it).
        With `wait=False`, call `wait_ready()` later.
        """
        if name in self._processes and not self._processes[name].exited():
            raise ValueError(f"process {name!r} is already running")
        log_file = self.log_dir / f"{name}.log"
        child_env = {**os.environ, **self._env, **(env or {})}
        # Python children flush their logs line by line, so tails are up to date.
        child_env.setdefault("PYTHONUNBUFFERED", "1")
        popen, offset = spawn(name, argv, log_file, env=child_env, cwd=cwd)
        process = ManagedProcess(
            name=name,
            argv=tuple(argv),
            popen=popen,
            log_file=log_file,
            ready_url=ready_url,
            log_offset=offset,
        )
        if self.pid_dir is not None:
            self.pid_dir.mkdir(parents=True, exist_ok=True)
            process.pid_file = self.pid_dir / f"{name}.pid"
            process.pid_file.write_text(f"{popen.pid}\n")
        self._processes[name] = process
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        if ready_url is not None and wait:
            self.wait_ready(timeout=ready_timeout, names=[name])
        return process

    def wait_ready(
        self, timeout: float = DEFAULT_READY_TIMEOUT, names: Iterable[str] | None = None
    ) -> None:
        """Wait until every process (or those `names`) with a ready URL answers 200.

        Raises `ProcessStartError` naming the first process that exited or was not ready
        within `timeout` seconds, with the tail of its log.
        """
        selected = [self._processes[n] for n in names] if names else self.processes
        pending = [p for p in selected if p.ready_url and not p.ready]
        deadline = time.monotonic() + timeout
        while pending:
            for process in list(pending):
                if process.exited():
                    raise ProcessStartError(
                        f"{process.name} exited with code {process.popen.returncode} "
                        f"before it was ready\n{self.log_tail(process.name)}"
                    )
                if process.ready_url and http_ok(process.ready_url):
                    process.ready = True
                    pending.remove(process)
            if not pending:
                return
            if time.monotonic() > deadline:
                process = pending[0]
                raise ProcessStartError(
                    f"{process.name} did not answer {process.ready_url} within {timeout:.0f}s"
                    f"\n{self.log_tail(process.name)}"
                )
            time.sleep(0.2)

    def exited(self) -> list[ManagedProcess]:
        """The processes that have ended (for a supervisor loop to report)."""
        return [p for p in self.processes if p.exited()]

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines this run of process `name` wrote, framed for a terminal."""
        process = self._processes[name]
        return format_tail(process.log_file, lines, process.log_offset)

    def stop(self) -> None:
        """Stop every process, last started first: SIGTERM to its process group, then
        SIGKILL after `stop_timeout` seconds. Idempotent."""
        running = [p for p in reversed(self.processes) if not p.exited()]
        stop_processes([p.pid for p in running], timeout=self.stop_timeout)
        for process in self.processes:
            # Reap, so that no zombie is left behind.
            with suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=1)
            if process.pid_file is not None:
                process.pid_file.unlink(missing_ok=True)
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False


def spawn(
    name: str,
    argv: Sequence[str],
    log_file: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `argv` in a session of its own, stdout and stderr appended to `log_file`
    after a header line. Returns the process and the log offset where its output starts.

    The process does not depend on its parent: it outlives it unless stopped."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        header = f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {name}: {' '.join(argv)}\n"
        log.write(header.encode())
        log.flush()
        offset = log.tell()
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    return popen, offset


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when a GET of `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def read_tail(path: Path, lines: int = LOG_TAIL_LINES, offset: int = 0) -> list[str]:
    """The last `lines` lines of `path` after byte `offset` ([] when there is no file)."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            # The tail of a log fits in its last few hundred kilobytes.
            start = max(offset, size - 256 * 1024)
            file.seek(start)
            text = file.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:]


def format_tail(path: Path, lines: int = LOG_TAIL_LINES, offset: int = 0) -> str:
    """The tail of a log with a header naming the file, ready to print."""
    tail = read_tail(path, lines, offset)
    body = "\n".join(f"  | {line}" for line in tail) if tail else "  | (empty)"
    return f"--- last {len(tail)} lines of {path} ---\n{body}"


def is_alive(pid: int) -> bool:
    """True when `pid` runs (a zombie, ended but not yet reaped, counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    # The state letter follows the command name, which is in parentheses and may hold spaces.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def command_line(pid: int) -> str:
    """The command line of `pid`, arguments joined by spaces ('' if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", errors="replace").strip()


def find_processes(
    *, command_contains: Iterable[str] = (), environ_has: tuple[str, str] | None = None
) -> list[int]:
    """Pids of live processes whose command line contains one of `command_contains`, or
    whose environment holds the variable `environ_has` = (name, value). Never this one."""
    needles = [needle for needle in command_contains if needle]
    variable = f"{environ_has[0]}={environ_has[1]}".encode() if environ_has else None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if any(needle in command_line(pid) for needle in needles) or (
            variable is not None and variable in environment_entries(pid)
        ):
            found.append(pid)
    return [pid for pid in found if is_alive(pid)]


def environment_entries(pid: int) -> list[bytes]:
    """The `NAME=value` entries a process was started with ([] if unreadable)."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []


def stop_processes(pids: Sequence[int], timeout: float = DEFAULT_STOP_TIMEOUT) -> list[int]:
    """SIGTERM each pid (its whole process group when it leads one), wait up to `timeout`
    seconds, then SIGKILL what is left. Returns the pids that needed SIGKILL."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    if _wait_all_ended(pids, timeout):
        _sweep_groups(pids)
        return []
    stubborn = [pid for pid in pids if is_alive(pid)]
    for pid in stubborn:
        _signal(pid, signal.SIGKILL)
    _wait_all_ended(stubborn, 5.0)
    _sweep_groups(pids)
    return stubborn


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those `pids` that are ended children of this process,
    so that they do not linger as zombies (others are ignored)."""
    for pid in pids:
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _sweep_groups(leaders: Sequence[int]) -> None:
    # A leader gone may leave members behind (a worker that ignored SIGTERM): kill them.
    for pid in leaders:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _wait_all_ended(pids: Sequence[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(is_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextmanager
def exit_on_signals(*signals: signal.Signals) -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP (or `signals`) raise `SystemExit`, so that
    `finally` clauses and context managers stop what they started."""
    chosen = signals or (signal.SIGTERM, signal.SIGHUP)

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, _raise) for signum in chosen}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def signals_ignored(*signals: signal.Signals) -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP (or `signals`) are ignored: a second
    Ctrl-C must not interrupt a shutdown half-way and leave processes behind."""
    chosen = signals or (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in chosen}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
