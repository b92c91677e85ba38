"""The Dockerfile, checked without a Docker engine: hadolint's rules, every path it copies
exists and reaches the build context, the command it runs exists, and the image it makes
runs as the user the manifests expect."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.kit import REPO, cercle_workloads, render

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
HADOLINT = Path(sys.executable).parent / "hadolint"
ARG_REFERENCE = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined, with its stage index."""

    keyword: str
    arguments: str
    stage: int


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile; `${ARG}` from the global ARGs substituted."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    instructions = []
    stage = -1
    arguments: dict[str, str] = {}
    for line in logical:
        keyword, _, rest = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and "=" in rest and stage == -1:
            name, _, value = rest.partition("=")
            arguments[name.strip()] = value.strip()
        rest = ARG_REFERENCE.sub(lambda m: _argument(arguments, m), rest)
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, rest.strip(), stage))
    return instructions


def _argument(arguments: dict[str, str], match: re.Match[str]) -> str:
    return arguments.get(match.group(1), match.group(0))


def excluded_by_dockerignore(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.removeprefix("!").rstrip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negated
    return excluded


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # `**` spans directories, `*` and `?` stay within one path segment.
    out = []
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        out.append(
            {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
        )
    return re.compile("".join(out))


def _instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


def _ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [p.strip() for p in lines if p.strip() and not p.startswith("#")]


def _copied_sources() -> set[str]:
    return {
        source.rstrip("/")
        for i in _instructions()
        if i.keyword == "COPY" and "--from" not in i.arguments
        for source in i.arguments.split()[:-1]
    }


def _runtime_stage() -> list[Instruction]:
    instructions = _instructions()
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def test_hadolint_finds_nothing_to_fix() -> None:
    assert HADOLINT.exists(), "hadolint is missing: run `bash tools/k8s/install.sh`"
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_path_exists_and_reaches_the_build_context() -> None:
    copies = [i for i in _instructions() if i.keyword == "COPY" and "--from" not in i.arguments]
    assert copies
    patterns = _ignore_patterns()
    for copy in copies:
        *sources, _destination = copy.arguments.split()
        for source in sources:
            path = REPO / source
            assert path.exists(), f"COPY {source}: not in the repository"
            assert not excluded_by_dockerignore(source.rstrip("/"), patterns), source
            if path.is_dir():
                sample = next(path.rglob("*.py")).relative_to(REPO).as_posix()
                assert not excluded_by_dockerignore(sample, patterns), sample


def test_every_package_the_kit_runs_is_copied_into_the_image() -> None:
    copied = _copied_sources()
    for workload in cercle_workloads(render("prod")):
        for step in workload.steps:
            top_package = step[-1].split(".")[0].split(":")[0]
            assert top_package in copied, workload.name


def test_the_copied_code_imports_nothing_left_out_of_the_image() -> None:
    copied = _copied_sources()
    local_packages = {p.parent.name for p in REPO.glob("*/__init__.py")} | {"tests"}
    for package in copied & local_packages:
        for source in (REPO / package).rglob("*.py"):
            tree = ast.parse(source.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    assert top not in local_packages - copied, f"{source}: imports {name}"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = _ignore_patterns()
    for path in (".git/config", ".venv/bin/python", ".stack/dev/env", "tests/unit", ".tools/bin"):
        assert excluded_by_dockerignore(path, patterns), path
    assert excluded_by_dockerignore("services/points/__pycache__/x.pyc", patterns)
    assert not excluded_by_dockerignore("services/points/rules.yaml", patterns)


def test_the_default_command_is_an_app_of_the_repository() -> None:
    (command,) = [i for i in _runtime_stage() if i.keyword == "CMD"]
    argv = json.loads(command.arguments)  # the exec form: a JSON list of strings
    assert argv[0] == "gunicorn"
    module, _, call = argv[-1].partition(":")
    assert call == "create_app()"
    assert importlib.util.find_spec(module) is not None, module


def test_the_image_is_multi_stage_and_runs_as_the_manifests_user() -> None:
    instructions = _instructions()
    assert max(i.stage for i in instructions) >= 1
    runtime = _runtime_stage()
    (user,) = [i for i in runtime if i.keyword == "USER"]
    uid = int(user.arguments.split(":")[0])
    assert uid != 0
    for workload in cercle_workloads(render("prod")):
        assert workload.pod_spec["securityContext"]["runAsUser"] == uid, workload.name
    # No compiler, no package manager run in the final stage.
    for instruction in runtime:
        if instruction.keyword == "RUN":
            assert not re.search(r"\b(pip|apt-get|gcc|make)\b", instruction.arguments)


def test_the_image_python_is_the_one_the_project_requires() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minor = re.search(r">=3\.(\d+)", requires)
    assert minor is not None
    (base,) = {i.arguments.split()[0] for i in _instructions() if i.keyword == "FROM"}
    assert base.startswith(f"python:3.{minor.group(1)}-slim"), base


def test_the_image_installs_the_runtime_lock_checking_every_hash() -> None:
    # The lock is checked against pyproject.toml by tests/unit/common/test_lock.py.
    (install,) = [
        i for i in _instructions() if i.keyword == "RUN" and "-r requirements.lock" in i.arguments
    ]
    assert "--require-hashes" in install.arguments
    assert "requirements.lock" in _copied_sources()
    assert "gunicorn==" in (REPO / "requirements.lock").read_text()


def test_every_gunicorn_reads_the_repository_config_that_disables_its_control_socket() -> None:
    config: dict[str, object] = {}
    exec((REPO / "gunicorn.conf.py").read_text(), config)
    assert config["control_socket_disable"] is True
    # gunicorn reads ./gunicorn.conf.py: the file lands in /app, which the runtime stage
    # takes whole and works in, and no workload runs elsewhere.
    workdir = None
    for instruction in _instructions():
        if instruction.keyword == "WORKDIR":
            workdir = instruction.arguments
        if instruction.keyword == "COPY" and instruction.arguments == "gunicorn.conf.py ./":
            assert workdir == "/app"
            break
    else:
        raise AssertionError("the Dockerfile does not COPY gunicorn.conf.py ./")
    runtime = _runtime_stage()
    assert [i.arguments for i in runtime if i.keyword == "WORKDIR"] == ["/app"]
    assert any(i.arguments == "--from=build /app /app" for i in runtime if i.keyword == "COPY")
    for workload in cercle_workloads(render("prod")):
        for container in workload.pod_spec["containers"]:
            assert "workingDir" not in container, workload.name
