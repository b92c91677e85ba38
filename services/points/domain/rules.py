"""The rules as data: what the YAML rules file may say, checked field by field.

The file is parsed elsewhere (YAML is I/O's business); this module receives plain data
and a map from dotted field paths to line numbers, so every error names both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from cercle_common.envelope import (
    CHARTER_ACKNOWLEDGED,
    CONTENT_SHARED,
    COURSE_COMPLETED,
    POINTS_ADJUSTED,
    SHARE_DELETED,
    SHARE_ENGAGED,
    SURVEY_ANSWERED,
)
from cercle_common.errors import ValidationError

AWARD = "award"
ENGAGEMENT = "engagement"
REVERSAL = "reversal"
ADJUSTMENT = "adjustment"

# Which kinds of rule may listen to which event types.
KIND_EVENTS: dict[str, frozenset[str]] = {
    AWARD: frozenset({CONTENT_SHARED, COURSE_COMPLETED, SURVEY_ANSWERED, CHARTER_ACKNOWLEDGED}),
    ENGAGEMENT: frozenset({SHARE_ENGAGED}),
    REVERSAL: frozenset({SHARE_DELETED}),
    ADJUSTMENT: frozenset({POINTS_ADJUSTED}),
}
CAP_PERIODS = ("day", "week")
ENGAGEMENT_COUNTS = ("clicks", "reactions", "comments", "reshares")
# A survey answer's value never reaches this service, and no rule may ask for it.
FORBIDDEN_FIELDS = frozenset({"value"})
MAX_POINTS = 100_000


class RulesError(ValidationError):
    """A rules file that cannot be used: names the field's dotted path and its line."""

    def __init__(self, message: str, field: str, line: int | None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{field}: {message}", field)
        self.line = line


@dataclass(frozen=True)
class Condition:
    """A test on one `data` field: one of `values`, or a number in [minimum, maximum]."""

    field: str
    values: frozenset[str] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def holds(self, data: Mapping[str, Any]) -> bool:
        """Whether the event's data passes."""
        value = data.get(self.field)
        if self.values is not None:
            return isinstance(value, str) and value in self.values
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        return not (self.maximum is not None and value > self.maximum)


@dataclass(frozen=True)
class Rule:
    """One rule of the file. `points` is for awards; `per` and `cap_per_share` for
    engagement; the others have their points in the event or the share they reverse."""

    id: str
    kind: str
    event: str
    label: str
    points: int = 0
    conditions: tuple[Condition, ...] = ()
    once_per: tuple[str, ...] | None = None
    caps: dict[str, int] = field(default_factory=dict)
    cooldown_seconds: int = 0
    per: dict[str, int] = field(default_factory=dict)
    cap_per_share: int | None = None

    def matches(self, data: Mapping[str, Any]) -> bool:
        """Whether every condition holds."""
        return all(condition.holds(data) for condition in self.conditions)


@dataclass(frozen=True)
class Campaign:
    """A multiplier on award rules for events that occurred in [start, end), for content
    carrying one of `tags` (any content when empty), on `rules` (every award rule when
    empty)."""

    id: str
    multiplier: Fraction
    start: datetime
    end: datetime
    tags: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()

    def applies(self, rule_id: str, occurred_at: datetime, tags: frozenset[str]) -> bool:
        """Whether this campaign multiplies `rule_id` for an event at `occurred_at`."""
        if self.rules and rule_id not in self.rules:
            return False
        if not self.start <= occurred_at < self.end:
            return False
        return not self.tags or bool(self.tags & tags)


@dataclass(frozen=True)
class RuleSet:
    """A whole, validated rules file."""

    version: int
    rules: tuple[Rule, ...]
    campaigns: tuple[Campaign, ...] = ()

    def for_event(self, event_type: str) -> tuple[Rule, ...]:
        """The rules listening to one event type, in file order."""
        return tuple(rule for rule in self.rules if rule.event == event_type)


def parse_rules(document: Any, lines: Mapping[str, int] | None = None) -> RuleSet:
    """Validate plain data (as loaded from YAML) into a `RuleSet`; raises `RulesError`
    naming the first bad field and its line (`lines` maps dotted paths to lines)."""
    return _Parser(lines or {}).rule_set(document)


class _Parser:
    def __init__(self, lines: Mapping[str, int]) -> None:
        self._lines = lines

    def fail(self, message: str, path: str) -> RulesError:
        line = self._lines.get(path)
        probe = path
        while line is None and probe:
            probe = probe.rpartition(".")[0] if "." in probe else ""
            line = self._lines.get(probe)
        return RulesError(message, path, line)

    def mapping(self, value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail("must be a mapping", path)
        for key in value:
            if not isinstance(key, str):
                raise self.fail(f"keys must be strings, got {key!r}", path)
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                raise self.fail(
                    f"unknown field {key!r} (expected one of: {expected})", _join(path, key)
                )
        return value

    def integer(self, value: object, path: str, minimum: int, maximum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail("must be an integer", path)
        if not minimum <= value <= maximum:
            raise self.fail(f"must be between {minimum} and {maximum}", path)
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail("must be a non-empty string", path)
        return value

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail("must be a list of strings", path)
        return tuple(self.text(item, f"{path}[{index}]") for index, item in enumerate(value))

    def instant(self, value: Any, path: str) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as error:
                raise self.fail(f"not an ISO 8601 timestamp: {value!r}", path) from error
        if not isinstance(value, datetime):
            raise self.fail("must be an ISO 8601 timestamp", path)
        if value.tzinfo is None:
            raise self.fail("needs a time zone offset (e.g. +01:00 or Z)", path)
        return value.astimezone(UTC)

    def rule_set(self, document: Any) -> RuleSet:
        body = self.mapping(document, "", {"version", "rules", "campaigns"})
        if "version" not in body:
            raise self.fail("is required", "version")
        version = self.integer(body["version"], "version", 1, 1_000_000)
        raw_rules = body.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise self.fail("must be a non-empty list", "rules")
        rules = tuple(self.rule(raw, f"rules[{index}]") for index, raw in enumerate(raw_rules))
        seen: set[str] = set()
        for index, rule in enumerate(rules):
            if rule.id in seen:
                raise self.fail(f"duplicate rule id {rule.id!r}", f"rules[{index}].id")
            seen.add(rule.id)
        raw_campaigns = body.get("campaigns", [])
        if not isinstance(raw_campaigns, list):
            raise self.fail("must be a list", "campaigns")
        campaigns = tuple(
            self.campaign(raw, f"campaigns[{index}]", rules)
            for index, raw in enumerate(raw_campaigns)
        )
        return RuleSet(version=version, rules=rules, campaigns=campaigns)

    def rule(self, raw: Any, path: str) -> Rule:
        body = self.mapping(
            raw,
            path,
            {
                "id",
                "kind",
                "event",
                "label",
                "points",
                "when",
                "once_per",
                "caps",
                "cooldown_minutes",
                "per",
                "cap_per_share",
            },
        )
        for required in ("id", "event"):
            if required not in body:
                raise self.fail("is required", f"{path}.{required}")
        rule_id = self.text(body["id"], f"{path}.id")
        kind = body.get("kind", AWARD)
        if kind not in KIND_EVENTS:
            raise self.fail(f"must be one of {sorted(KIND_EVENTS)}", f"{path}.kind")
        event = self.text(body["event"], f"{path}.event")
        if event not in KIND_EVENTS[kind]:
            allowed = ", ".join(sorted(KIND_EVENTS[kind]))
            raise self.fail(f"a {kind} rule listens to one of: {allowed}", f"{path}.event")
        label = self.text(body.get("label", rule_id), f"{path}.label")
        allowed_fields = {
            AWARD: {"points", "when", "once_per", "caps", "cooldown_minutes"},
            ENGAGEMENT: {"per", "cap_per_share"},
            REVERSAL: set(),
            ADJUSTMENT: set(),
        }[kind]
        for key in body:
            if key not in {"id", "kind", "event", "label"} | allowed_fields:
                raise self.fail(f"not allowed on a {kind} rule", f"{path}.{key}")
        if kind == AWARD:
            if "points" not in body:
                raise self.fail("is required", f"{path}.points")
            points = self.integer(body["points"], f"{path}.points", -MAX_POINTS, MAX_POINTS)
            conditions = self.conditions(body.get("when", {}), f"{path}.when")
            once_per = None
            if "once_per" in body:
                once_per = self.strings(body["once_per"], f"{path}.once_per")
                for index, name in enumerate(once_per):
                    if name in FORBIDDEN_FIELDS:
                        raise self.fail(
                            "a survey answer's value never reaches points",
                            f"{path}.once_per[{index}]",
                        )
            caps_body = self.mapping(body.get("caps", {}), f"{path}.caps", set(CAP_PERIODS))
            caps = {
                period: self.integer(limit, f"{path}.caps.{period}", 1, 1_000_000)
                for period, limit in caps_body.items()
            }
            cooldown = self.integer(
                body.get("cooldown_minutes", 0), f"{path}.cooldown_minutes", 0, 525_600
            )
            return Rule(
                id=rule_id,
                kind=kind,
                event=event,
                label=label,
                points=points,
                conditions=conditions,
                once_per=once_per,
                caps=caps,
                cooldown_seconds=cooldown * 60,
            )
        if kind == ENGAGEMENT:
            if "per" not in body:
                raise self.fail("is required", f"{path}.per")
            per_body = self.mapping(body["per"], f"{path}.per", set(ENGAGEMENT_COUNTS))
            per = {
                name: self.integer(value, f"{path}.per.{name}", 0, 1000)
                for name, value in per_body.items()
            }
            cap = None
            if "cap_per_share" in body:
                cap = self.integer(body["cap_per_share"], f"{path}.cap_per_share", 0, MAX_POINTS)
            return Rule(id=rule_id, kind=kind, event=event, label=label, per=per, cap_per_share=cap)
        return Rule(id=rule_id, kind=kind, event=event, label=label)

    def conditions(self, raw: Any, path: str) -> tuple[Condition, ...]:
        if not isinstance(raw, dict):
            raise self.fail("must be a mapping of data field to condition", path)
        conditions = []
        for name, test in raw.items():
            field_path = _join(path, str(name))
            if not isinstance(name, str):
                raise self.fail("field names must be strings", path)
            if name in FORBIDDEN_FIELDS:
                raise self.fail("a survey answer's value never reaches points", field_path)
            if isinstance(test, list):
                values = frozenset(self.strings(test, field_path))
                conditions.append(Condition(field=name, values=values))
                continue
            bounds = self.mapping(test, field_path, {"min", "max"})
            if not bounds:
                raise self.fail("give a list of values or min / max", field_path)
            minimum = self.number(bounds.get("min"), f"{field_path}.min")
            maximum = self.number(bounds.get("max"), f"{field_path}.max")
            if minimum is not None and maximum is not None and minimum > maximum:
                raise self.fail("min is above max", field_path)
            conditions.append(Condition(field=name, minimum=minimum, maximum=maximum))
        return tuple(conditions)

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail("must be a number", path)
        return float(value)

    def campaign(self, raw: Any, path: str, rules: tuple[Rule, ...]) -> Campaign:
        body = self.mapping(raw, path, {"id", "multiplier", "start", "end", "tags", "rules"})
        for required in ("id", "multiplier", "start", "end"):
            if required not in body:
                raise self.fail("is required", f"{path}.{required}")
        multiplier_raw = body["multiplier"]
        if isinstance(multiplier_raw, bool) or not isinstance(multiplier_raw, int | float):
            raise self.fail("must be a number", f"{path}.multiplier")
        multiplier = Fraction(str(multiplier_raw))
        if not 0 < multiplier <= 10:
            raise self.fail("must be above 0 and at most 10", f"{path}.multiplier")
        start = self.instant(body["start"], f"{path}.start")
        end = self.instant(body["end"], f"{path}.end")
        if end <= start:
            raise self.fail("must be after start", f"{path}.end")
        tags = frozenset(self.strings(body.get("tags", []), f"{path}.tags"))
        rule_ids = self.strings(body.get("rules", []), f"{path}.rules")
        awards = {rule.id for rule in rules if rule.kind == AWARD}
        for index, rule_id in enumerate(rule_ids):
            if rule_id not in awards:
                raise self.fail(f"no award rule {rule_id!r}", f"{path}.rules[{index}]")
        return Campaign(
            id=self.text(body["id"], f"{path}.id"),
            multiplier=multiplier,
            start=start,
            end=end,
            tags=tags,
            rules=frozenset(rule_ids),
        )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
