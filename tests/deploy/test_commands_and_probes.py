"""Every command the kit runs is a module of the repository, and every probe asks the
process for a path it serves: the APIs' Flask apps are built from their factories (nothing
connects at creation), the other processes serve cercle_common.health's blueprint on
HEALTH_PORT."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import mongoengine
import pytest
from flask import Flask
from werkzeug.exceptions import MethodNotAllowed, NotFound

from cercle_common.health import health_blueprint
from cercle_common.settings import Settings
from tests.deploy.kit import REPO, Manifest, Workload, cercle_workloads, render

# The processes of the kit, by the command they run (the contract with the services); the
# index Job runs each service's index command in turn.
EXPECTED_COMMANDS: dict[str, str | tuple[str, ...]] = {
    "events-api": "services.events.entrypoints.app:create_app()",
    "points-api": "services.points.entrypoints.app:create_app()",
    "badges-api": "services.badges.entrypoints.app:create_app()",
    "gateway": "gateway.app:create_app()",
    "events-consumer": "services.events.entrypoints.consumer",
    "events-relay": "services.events.entrypoints.relay",
    "points-consumer": "services.points.entrypoints.consumer",
    "badges-consumer": "services.badges.entrypoints.consumer",
    "badges-scheduler": "services.badges.entrypoints.scheduler",
    "cercle-indexes": (
        "services.events.entrypoints.indexes",
        "services.points.entrypoints.indexes",
        "services.badges.entrypoints.indexes",
    ),
}
APIS = sorted(n for n, c in EXPECTED_COMMANDS.items() if isinstance(c, str) and ":" in c)
PYTHON_COMMANDS = sorted(n for n in EXPECTED_COMMANDS if n not in APIS)


def _workloads() -> dict[str, Workload]:
    return {w.name: w for w in cercle_workloads(render("prod"))}


def _target(workload: Workload) -> str | tuple[str, ...]:
    if workload.is_api:
        return workload.command[-1]
    modules = tuple(_module(workload, step) for step in workload.steps)
    return modules[0] if len(modules) == 1 else modules


def _module(workload: Workload, step: list[str]) -> str:
    assert step[:2] == ["python", "-m"], workload.name
    (module,) = step[2:]
    return module


def test_the_kit_runs_the_expected_processes(manifests: list[Manifest]) -> None:
    assert {w.name: _target(w) for w in cercle_workloads(manifests)} == EXPECTED_COMMANDS


@pytest.mark.parametrize("name", PYTHON_COMMANDS)
def test_every_python_command_is_a_runnable_module_of_the_repository(name: str) -> None:
    workload = _workloads()[name]
    for step in workload.steps:
        module = _module(workload, step)
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, f"{module} does not exist"
        source = Path(spec.origin)
        assert REPO in source.parents, f"{module} is not the repository's"
        assert 'if __name__ == "__main__":' in source.read_text(), f"{module} does nothing"


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, c in EXPECTED_COMMANDS.items()
        if isinstance(c, str) and (c.endswith("consumer") or c.endswith("relay"))
    ),
)
def test_every_long_running_process_serves_its_health_port(name: str) -> None:
    target = _target(_workloads()[name])
    assert isinstance(target, str), name
    spec = importlib.util.find_spec(target)
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    assert "run_consumer(" in source or "serve_health_in_background(" in source, name


@pytest.mark.parametrize("name", APIS)
def test_every_api_probe_path_is_served_by_its_app(name: str) -> None:
    workload = _workloads()[name]
    module_name, _, call = workload.command[-1].partition(":")
    assert call == "create_app()"
    factory = importlib.import_module(module_name).create_app
    try:
        app = factory(Settings.from_env(environ={}))
        assert isinstance(app, Flask)
        for path in _probe_paths(workload):
            assert _serves(app, path), f"{name} has no GET {path}"
        assert _serves(app, "/metrics")
    finally:
        # Factories register (lazy) clients; close them rather than leak them.
        mongoengine.disconnect_all()


@pytest.mark.parametrize(
    "name", ["events-consumer", "events-relay", "points-consumer", "badges-consumer"]
)
def test_every_consumer_probe_path_is_served_by_the_health_blueprint(name: str) -> None:
    app = Flask("probe")
    app.register_blueprint(health_blueprint())
    for path in _probe_paths(_workloads()[name]):
        assert _serves(app, path), f"{name} probes {path}"


def test_a_missing_path_is_reported_missing() -> None:
    app = Flask("probe")
    app.register_blueprint(health_blueprint())
    assert not _serves(app, "/livez")


def test_every_public_path_of_the_route_is_served_by_its_backend() -> None:
    manifests = render("prod")
    commands = {w.name: w.command[-1] for w in cercle_workloads(manifests) if w.is_api}
    rules = [r for m in manifests if m["kind"] == "HTTPRoute" for r in m["spec"]["rules"]]
    routed = [(m, b) for r in rules for m in r.get("matches", []) for b in r.get("backendRefs", [])]
    assert routed
    for match, backend_ref in routed:
        backend = backend_ref["name"]
        module_name = commands[backend].partition(":")[0]
        try:
            app = importlib.import_module(module_name).create_app(Settings.from_env(environ={}))
            paths = [r.rule for r in app.url_map.iter_rules()]
        finally:
            mongoengine.disconnect_all()
        # A PathPrefix routes the path itself and everything under it.
        assert match["path"]["type"] == "PathPrefix"
        prefix = match["path"]["value"]
        served = [p for p in paths if p == prefix or p.startswith(prefix.rstrip("/") + "/")]
        assert served, f"{backend} serves nothing under {prefix}"


def _probe_paths(workload: Workload) -> set[str]:
    app = workload.app
    probes = [app.get(k) for k in ("livenessProbe", "readinessProbe", "startupProbe")]
    return {p["httpGet"]["path"] for p in probes if p}


def _serves(app: Flask, path: str) -> bool:
    try:
        app.url_map.bind("localhost").match(path, method="GET")
    except (NotFound, MethodNotAllowed):
        return False
    return True
