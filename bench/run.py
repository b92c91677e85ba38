"""Runs the benchmarks one after the other, each within a time budget (`make bench`).

    .venv/bin/python bench/run.py [--timeout-s 900] [bench/points_throughput.py ...]

Each benchmark's figures are printed as it measures them. A benchmark that overruns its
budget is stopped (SIGTERM to its whole process group, SIGKILL 10 s later) and reported
as timed out, with what it printed so far; one that fails is reported with the last line
of its error output, its full output being kept in a log file. The exit status is 0 only
when every benchmark finished in time and succeeded.

The chaos run (`bench/chaos.py`) is not a benchmark: `make chaos` runs it."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"run.py", "chaos.py"}
DEFAULT_TIMEOUT_S = 900.0
GRACE_S = 10.0


@dataclass(frozen=True)
class Outcome:
    """How one benchmark ended."""

    name: str
    seconds: float
    exit_code: int | None  # None: stopped because it overran its budget
    error_line: str
    log_file: Path  # the standard output; the error output is beside it (.stderr)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        if self.exit_code is None:
            return (
                f"{self.name}: TIMED OUT after {self.seconds:.0f}s and was stopped; the "
                f"figures above are what it measured until then (output: {self.log_file})"
            )
        if self.exit_code != 0:
            return (
                f"{self.name}: FAILED (exit {self.exit_code}) after {self.seconds:.0f}s: "
                f"{self.error_line or 'no error output'} (output: {self.log_file})"
            )
        return f"{self.name}: done in {self.seconds:.0f}s"


def benchmarks() -> list[Path]:
    """Every benchmark of the folder, in name order."""
    return sorted(p for p in BENCH_DIR.glob("*.py") if p.name not in NOT_BENCHMARKS)


def run_one(script: Path, timeout_s: float, log_dir: Path) -> Outcome:
    """Run one benchmark, echoing its standard output line by line."""
    log_file = log_dir / f"{script.stem}.log"
    error_file = log_dir / f"{script.stem}.stderr"
    began = time.monotonic()
    with log_file.open("w") as log, error_file.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-u", str(script)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,  # its servers (gunicorn, ...) share its process group
        )
        assert process.stdout is not None
        echo = threading.Thread(target=_echo, args=(process.stdout, log), daemon=True)
        echo.start()
        try:
            code: int | None = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
            _stop(process)
        echo.join(timeout=GRACE_S)
        process.stdout.close()
    seconds = time.monotonic() - began
    return Outcome(script.name, seconds, code, _last_line(error_file), log_file)


def _echo(stream: object, log: object) -> None:
    for line in stream:  # type: ignore[attr-defined]
        print(f"  {line}", end="", flush=True)
        log.write(line)  # type: ignore[attr-defined]


def _stop(process: subprocess.Popen[str]) -> None:
    for signum, wait_s in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, GRACE_S)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _last_line(error_file: Path) -> str:
    """The last non-blank line of the error output: an exception's message, usually."""
    lines = [line.strip() for line in error_file.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--timeout-s", type=float, default=DEFAULT_TIMEOUT_S)
    parser.add_argument("scripts", nargs="*", type=Path, help="default: every benchmark")
    args = parser.parse_args(argv)
    scripts = args.scripts or benchmarks()
    log_dir = Path(tempfile.mkdtemp(prefix="cercle-bench-"))
    outcomes = []
    for script in scripts:
        print(f"== {script.name} (budget {args.timeout_s:.0f}s)", flush=True)
        outcomes.append(run_one(script, args.timeout_s, log_dir))
        print(outcomes[-1].summary(), flush=True)
    print("== summary")
    for outcome in outcomes:
        print(outcome.summary())
    return 0 if all(outcome.passed for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
