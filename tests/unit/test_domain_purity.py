"""Every service's `domain/` is pure: plain functions and dataclasses over the standard
library. Each module is read with `ast` (nothing is imported, so an import hidden in a
function or under `TYPE_CHECKING` counts too) and fails if it names an I/O library, a
module of its service's outer layers (adapters, entrypoints, ports, handlers,
bootstrap), another service, or a module of the shared package that itself imports an
I/O library."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_FILES = sorted(ROOT.glob("services/*/domain/**/*.py"))

# Drivers, frameworks and clients (with what they bring: bson is pymongo's, werkzeug
# Flask's), plus the parsers and crypto libraries the adapters wrap, and the standard
# library's own network and process modules.
IO_LIBRARIES = frozenset(
    {
        "flask",
        "werkzeug",
        "kafka",
        "pymongo",
        "bson",
        "mongoengine",
        "redis",
        "requests",
        "gunicorn",
        "graphene",
        "graphql",
        "yaml",
        "jwt",
        "cryptography",
        "prometheus_client",
        "socket",
        "ssl",
        "subprocess",
        "http.client",
        "http.server",
        "urllib.request",
    }
)


def imported_modules(code: str, package: str) -> set[str]:
    """The absolute names of the modules `code` imports (relative imports resolved against
    `package`, the dotted package it belongs to); `from a import b` names `a` and `a.b`,
    since `b` may be a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def is_io_library(module: str) -> bool:
    parts = module.split(".")
    return any(".".join(parts[:n]) in IO_LIBRARIES for n in range(1, len(parts) + 1))


def source_of(module: str) -> Path | None:
    """The file of a module of the repository (None: a name inside a module)."""
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def module_of(source: Path) -> str:
    parts = source.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str, source: Path) -> str:
    return module if source.name == "__init__.py" else module.rpartition(".")[0]


@cache
def shared_module_io(module: str) -> tuple[str, ...]:
    """The I/O libraries a module of `cercle_common` imports, directly or through other
    modules of the shared package (which may import each other in a cycle)."""
    found: set[str] = set()
    seen, todo = {module}, [module]
    while todo:
        source = source_of(todo.pop())
        if source is None:
            continue  # a name inside a module (`from cercle_common.errors import X`)
        current = module_of(source)
        for name in imported_modules(
            source.read_text(encoding="utf-8"), package_of(current, source)
        ):
            if is_io_library(name):
                found.add(name)
            elif name.partition(".")[0] == "cercle_common" and name not in seen:
                seen.add(name)
                todo.append(name)
    return tuple(sorted(found))


def impurities(code: str, module: str, package: str) -> list[str]:
    """What makes `code` (the module `module` of package `package`, inside a service's
    `domain/`) impure."""
    own_domain = ".".join(module.split(".")[:3])  # services.<service>.domain
    problems = []
    for name in sorted(imported_modules(code, package)):
        if is_io_library(name):
            problems.append(f"imports {name}")
        elif name == "services" or name.startswith("services."):
            if name != own_domain and not name.startswith(own_domain + "."):
                problems.append(f"imports {name}, outside {own_domain}")
        elif name == "cercle_common" or name.startswith("cercle_common."):
            problems.extend(f"imports {name}, which imports {io}" for io in shared_module_io(name))
    return problems


def test_every_service_has_a_domain_to_check() -> None:
    services = {p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").is_file()}
    checked = {path.relative_to(ROOT / "services").parts[0] for path in DOMAIN_FILES}
    assert services and checked == services


@pytest.mark.parametrize(
    "source", DOMAIN_FILES, ids=[str(path.relative_to(ROOT)) for path in DOMAIN_FILES]
)
def test_domain_module_imports_no_io_library_nor_an_outer_layer(source: Path) -> None:
    module = module_of(source)
    code = source.read_text(encoding="utf-8")
    assert impurities(code, module, package_of(module, source)) == []


BADGES_MODEL = ("services.badges.domain.model", "services.badges.domain")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import pymongo", "imports pymongo"),
        ("from kafka.errors import KafkaError", "imports kafka.errors"),
        ("from urllib import request", "imports urllib.request"),
        ("import http.client", "imports http.client"),
        ("def later():\n    import requests", "imports requests"),
        ("if False:\n    from flask import Flask", "imports flask"),
        (
            "from services.badges.adapters.repository import StateStore",
            "imports services.badges.adapters.repository, outside services.badges.domain",
        ),
        (
            "from ..entrypoints import api",
            "imports services.badges.entrypoints.api, outside services.badges.domain",
        ),
        ("from services.badges import ports", "imports services.badges.ports, outside"),
        ("from services.points.domain import rules", "imports services.points.domain, outside"),
        ("from cercle_common import messaging", "imports cercle_common.messaging, which imports"),
        ("from cercle_common.mongo import connect", "imports cercle_common.mongo, which imports"),
    ],
)
def test_the_check_refuses_what_is_not_pure(code: str, expected: str) -> None:
    problems = impurities(code, *BADGES_MODEL)
    assert any(problem.startswith(expected) for problem in problems), problems


@pytest.mark.parametrize(
    "code",
    [
        "from urllib.parse import quote",
        "from http import HTTPStatus",
        "from zoneinfo import ZoneInfo",
        "from .criteria import Match",
        "from services.badges.domain.catalogue import Catalogue",
        "from cercle_common.errors import NotFound",
        "from cercle_common.envelope import parse_instant",
    ],
)
def test_the_check_lets_the_standard_library_and_the_pure_shared_modules_pass(code: str) -> None:
    assert impurities(code, *BADGES_MODEL) == []
