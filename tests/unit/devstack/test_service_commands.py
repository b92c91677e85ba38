"""Every command `devstack run` starts names a module of the repository that exists: the
`python -m` ones run something when run, the gunicorn ones name a factory the module
defines. Read from the sources, nothing imported (a module moved without its command
following fails here, in milliseconds, rather than when the stack starts)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from devstack.services import BADGES_SCHEDULER, SERVICES

REPO = Path(__file__).resolve().parents[3]
COMMANDS = {service.name: service.argv for service in SERVICES} | {
    "badges-scheduler": BADGES_SCHEDULER
}


def source_of(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"{module} does not exist"
    source = Path(spec.origin)
    assert REPO in source.parents, f"{module} is not the repository's ({source})"
    return source


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_names_a_module_of_the_repository_that_runs(name: str) -> None:
    argv = COMMANDS[name]
    if argv[0] == "gunicorn":
        module, _, factory = argv[-1].partition(":")
        tree = ast.parse(source_of(module).read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert factory.removesuffix("()") in defined, f"{module} defines no {factory}"
    else:
        assert argv[:2] == ("python", "-m"), argv
        module = argv[2]
        text = source_of(module).read_text(encoding="utf-8")
        assert 'if __name__ == "__main__":' in text, f"{module} does nothing when run"
