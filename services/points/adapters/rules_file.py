"""Loads a YAML rules file into a validated `RuleSet`, with line numbers in errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.points.domain.rules import RulesError, RuleSet, parse_rules

DEFAULT_RULES = Path(__file__).parents[1] / "rules" / "default.yaml"


def load_rules(path: Path | str = DEFAULT_RULES) -> RuleSet:
    """Read and validate a rules file; raises `RulesError` naming the field and line."""
    return parse_rules_text(Path(path).read_text(encoding="utf-8"))


def parse_rules_text(text: str) -> RuleSet:
    """Validate the text of a rules file (YAML)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RulesError(f"not valid YAML: {getattr(error, 'problem', error)}", "", line) from error
    if root is None:
        raise RulesError("the file is empty", "version", 1)
    lines: dict[str, int] = {}
    _record_lines(root, "", lines)
    document: Any = yaml.safe_load(text)
    return parse_rules(document, lines)


def _record_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            lines[child] = key_node.start_mark.line + 1
            _record_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines)
