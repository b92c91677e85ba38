"""Benchmarks and the chaos run have stack instances of their own, so running them never
changes what `make run` (the dev instance) shows; a benchmark that overruns its budget is
stopped and reported instead of hanging."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from devstack.config import INSTANCE_NAMES, PORT_VARIABLES, REPO_ROOT, load_config


def recipe(target: str) -> str:
    """The command lines of one Makefile target."""
    lines = (REPO_ROOT / "Makefile").read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(f"{target}:"))
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line)
    return "\n".join(body)


def test_every_instance_has_ports_and_a_folder_of_its_own() -> None:
    assert {"dev", "test", "bench", "chaos"} <= set(INSTANCE_NAMES)
    configs = [load_config(name, {}, REPO_ROOT) for name in INSTANCE_NAMES]
    ports = [getattr(config.ports, field) for config in configs for field in PORT_VARIABLES]
    assert len(ports) == len(set(ports))
    assert len({config.stack_dir for config in configs}) == len(configs)


def test_make_bench_runs_on_the_bench_instance_not_the_dev_data() -> None:
    bench = recipe("bench")
    assert "devstack up --name bench" in bench
    assert "source .stack/bench/env" in bench
    assert ".stack/dev" not in bench and "--name dev" not in bench
    assert "bench/run.py" in bench  # every benchmark within a time budget


def test_make_test_ends_with_the_chaos_stage() -> None:
    assert "pytest tests/chaos" in recipe("test")
    assert "bench/chaos.py" in recipe("chaos")


@pytest.fixture
def runner() -> object:
    spec = importlib.util.spec_from_file_location("bench_run", REPO_ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


def test_a_benchmark_over_its_budget_is_stopped_and_reported(
    runner: object, tmp_path: Path
) -> None:
    script = tmp_path / "slow.py"
    script.write_text('import time\nprint("measured: 12 events/s", flush=True)\ntime.sleep(60)\n')
    outcome = runner.run_one(script, 1.0, tmp_path)  # type: ignore[attr-defined]
    assert outcome.exit_code is None and not outcome.passed
    assert outcome.seconds < 30
    assert "TIMED OUT" in outcome.summary()
    assert "measured: 12 events/s" in outcome.log_file.read_text()


def test_a_failing_benchmark_is_summed_up_by_its_error(runner: object, tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text('print("half way")\nraise RuntimeError("broker unreachable")\n')
    outcome = runner.run_one(script, 30.0, tmp_path)  # type: ignore[attr-defined]
    assert outcome.exit_code == 1
    assert "RuntimeError: broker unreachable" in outcome.summary()
