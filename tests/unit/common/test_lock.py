"""The locks agree with what they are made from (`make lock` makes them): every
requirement is pinned at exactly one version that satisfies it, every pin carries the
hashes its files are checked against, and nothing is pinned that no requirement needs."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# How the generator (uv) names the file a pin comes from, in its `# via` notes.
FROM_PYPROJECT = "cercle (pyproject.toml)"


@dataclass
class Pin:
    """One `name==version [; marker]` entry of a lock, with its hashes and `# via` notes."""

    requirement: Requirement
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> Version:
        (specifier,) = self.requirement.specifier
        assert specifier.operator == "==", self.requirement
        return Version(specifier.version)


def read_lock(path: Path) -> list[Pin]:
    """The pins of a lock in pip's requirements format, as `uv pip compile` writes it."""
    pins: list[Pin] = []
    in_via = False
    for line in path.read_text().replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not line[0].isspace():
            if not stripped.startswith("#"):
                requirement, *hashes = stripped.split(" --hash=")
                pins.append(Pin(Requirement(requirement), [h.strip() for h in hashes]))
            in_via = False
            continue
        note = stripped.removeprefix("#").strip()
        if note.startswith("via"):
            in_via = True
            note = note.removeprefix("via").strip()
        if pins and in_via and note:
            pins[-1].via.append(note)
    return pins


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements of a plain requirements file (no options, `#` comments)."""
    lines = (line.partition("#")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


@dataclass(frozen=True)
class Lock:
    """A lock and what it is made from: its requirements, and what else its notes name."""

    path: str
    requirements: tuple[Requirement, ...]
    source: str
    # Files the generator read besides the source: a constraint or an override names
    # them in `# via`, but pins nothing by itself.
    also_read: tuple[str, ...] = ()


BASE = tuple(Requirement(r) for r in PROJECT["dependencies"])
DEV = BASE + tuple(Requirement(r) for r in PROJECT["optional-dependencies"]["dev"])
OPENBADGES = REPO / "tools" / "openbadges"
LOCKS = [
    Lock("requirements-dev.lock", DEV, FROM_PYPROJECT),
    Lock("requirements.lock", BASE, FROM_PYPROJECT, ("-c requirements-dev.lock",)),
    Lock(
        "tools/openbadges/requirements.txt",
        tuple(read_requirements(OPENBADGES / "requirements.in")),
        "-r tools/openbadges/requirements.in",
        ("--override tools/openbadges/overrides.txt",),
    ),
    Lock(
        "tools/lock/requirements.txt",
        tuple(read_requirements(REPO / "tools" / "lock" / "requirements.in")),
        "-r tools/lock/requirements.in",
    ),
]


def disagreements(requirements: tuple[Requirement, ...], pins: list[Pin]) -> list[str]:
    """Each requirement not pinned at exactly one version that satisfies it."""
    problems = []
    for requirement in requirements:
        versions = [p.version for p in pins if p.name == canonicalize_name(requirement.name)]
        if len(versions) != 1:
            problems.append(f"{requirement.name} pinned {len(versions)} times")
        elif not requirement.specifier.contains(versions[0], prereleases=True):
            problems.append(f"{requirement.name}=={versions[0]} is not {requirement}")
    return problems


def unneeded(lock: Lock, pins: list[Pin]) -> list[str]:
    """Each pin that neither a requirement nor another pin needs, by the generator's
    notes; a note saying a requirement needs it is checked against the requirements."""
    direct = {canonicalize_name(r.name) for r in lock.requirements}
    pinned = {p.name for p in pins}
    problems = []
    for pin in pins:
        reasons = [v for v in pin.via if v not in lock.also_read]
        if not reasons:
            problems.append(f"nothing needs {pin.name}")
        for reason in reasons:
            if reason == lock.source and pin.name not in direct:
                problems.append(f"{pin.name} is no longer required")
            elif reason != lock.source and canonicalize_name(reason) not in pinned:
                problems.append(f"{pin.name} is needed by {reason}, which is not pinned")
    return problems


@pytest.fixture(params=LOCKS, ids=lambda lock: lock.path)
def lock(request: pytest.FixtureRequest) -> Lock:
    return request.param


def test_every_requirement_is_pinned_once_at_a_version_it_allows(lock: Lock) -> None:
    problems = disagreements(lock.requirements, read_lock(REPO / lock.path))
    assert not problems, f"{lock.path} disagrees (run `make lock`): {problems}"


def test_every_pin_carries_the_hashes_of_its_files(lock: Lock) -> None:
    pins = read_lock(REPO / lock.path)
    assert pins
    for pin in pins:
        assert pin.hashes, f"{lock.path}: {pin.name} has no hash"
        assert all(h.startswith("sha256:") and len(h) == 7 + 64 for h in pin.hashes), pin.name


def test_nothing_is_pinned_that_no_requirement_needs(lock: Lock) -> None:
    problems = unneeded(lock, read_lock(REPO / lock.path))
    assert not problems, f"{lock.path} (run `make lock`): {problems}"


def test_the_image_runs_the_versions_the_project_environment_tests() -> None:
    development = {p.name: p.version for p in read_lock(REPO / "requirements-dev.lock")}
    for pin in read_lock(REPO / "requirements.lock"):
        assert development.get(pin.name) == pin.version, pin.name


def test_a_requirement_changed_or_dropped_without_a_new_lock_is_reported() -> None:
    runtime = LOCKS[1]
    pins = read_lock(REPO / runtime.path)
    moved = tuple(Requirement("flask==0.12.1") if r.name == "flask" else r for r in BASE)
    assert disagreements(moved, pins) == ["flask==3.1.3 is not flask==0.12.1"]
    dropped = Lock(
        runtime.path,
        tuple(r for r in BASE if r.name != "flask"),
        runtime.source,
        runtime.also_read,
    )
    assert unneeded(dropped, pins) == ["flask is no longer required"]


@pytest.mark.parametrize(
    ("installer", "lock_path"),
    [
        ("Makefile", "requirements-dev.lock"),
        ("Dockerfile", "requirements.lock"),
        ("tools/openbadges/install.sh", "requirements.txt"),
        ("tools/lock/lock.sh", "requirements.txt"),
    ],
)
def test_every_install_checks_the_hashes_of_its_lock_and_writes_no_version(
    installer: str, lock_path: str
) -> None:
    text = (REPO / installer).read_text()
    assert "--require-hashes" in text
    assert lock_path in text
    # Versions belong in the files the locks are made from, never in the installer.
    assert not re.search(r"\b[\w.-]+==\d", text), f"{installer} pins a version"
