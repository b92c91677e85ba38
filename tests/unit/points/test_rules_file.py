"""The rules file is validated at load, with errors naming the line and the field."""

from __future__ import annotations

import pytest

from services.points.adapters.rules_file import DEFAULT_RULES, load_rules, parse_rules_text
from services.points.domain.rules import RulesError

HEADER = "version: 2\nrules:\n"


def error_of(text: str) -> RulesError:
    with pytest.raises(RulesError) as raised:
        parse_rules_text(text)
    return raised.value


def test_default_rules_load_and_cover_every_event_type() -> None:
    rule_set = load_rules(DEFAULT_RULES)
    assert rule_set.version == 1
    assert {rule.event for rule in rule_set.rules} == {
        "content.shared",
        "share.engaged",
        "share.deleted",
        "course.completed",
        "charter.acknowledged",
        "survey.answered",
        "points.adjusted",
    }


def test_wrong_type_names_line_and_field() -> None:
    text = HEADER + "  - id: a\n    event: content.shared\n    points: ten\n"
    error = error_of(text)
    assert (error.line, error.field) == (5, "rules[0].points")
    assert str(error) == "line 5: rules[0].points: must be an integer"


def test_unknown_field_is_refused_with_its_line() -> None:
    text = HEADER + "  - id: a\n    event: content.shared\n    points: 1\n    pionts: 2\n"
    error = error_of(text)
    assert (error.line, error.field) == (6, "rules[0].pionts")


def test_missing_version_is_refused() -> None:
    error = error_of("rules:\n  - id: a\n    event: content.shared\n    points: 1\n")
    assert error.field == "version"


def test_duplicate_rule_ids_are_refused() -> None:
    rule = "  - id: a\n    event: content.shared\n    points: 1\n"
    error = error_of(HEADER + rule + rule)
    assert (error.line, error.field) == (6, "rules[1].id")


def test_rule_kind_must_fit_the_event() -> None:
    error = error_of(HEADER + "  - id: a\n    kind: reversal\n    event: content.shared\n")
    assert error.field == "rules[0].event" and error.line == 5


def test_no_rule_may_read_a_survey_answer_value() -> None:
    text = HEADER + (
        "  - id: a\n    event: survey.answered\n    points: 5\n    when:\n      value: {min: 9}\n"
    )
    error = error_of(text)
    assert (error.line, error.field) == (7, "rules[0].when.value")


def test_campaign_end_must_follow_start() -> None:
    text = HEADER + (
        "  - id: a\n    event: content.shared\n    points: 1\n"
        "campaigns:\n  - id: c\n    multiplier: 2\n"
        "    start: 2026-11-30T00:00:00+01:00\n    end: 2026-11-23T00:00:00+01:00\n"
    )
    error = error_of(text)
    assert (error.line, error.field) == (10, "campaigns[0].end")


def test_campaign_must_name_existing_award_rules() -> None:
    text = HEADER + (
        "  - id: a\n    event: content.shared\n    points: 1\n"
        "campaigns:\n  - id: c\n    multiplier: 2\n    start: 2026-11-01T00:00:00Z\n"
        "    end: 2026-12-01T00:00:00Z\n    rules: [b]\n"
    )
    error = error_of(text)
    assert (error.line, error.field) == (11, "campaigns[0].rules[0]")


def test_caps_accept_only_day_and_week() -> None:
    text = HEADER + "  - id: a\n    event: content.shared\n    points: 1\n    caps: {month: 3}\n"
    error = error_of(text)
    assert error.field == "rules[0].caps.month" and error.line == 6


def test_broken_yaml_names_its_line() -> None:
    error = error_of("version: 1\nrules: [\n")
    assert error.line is not None and "not valid YAML" in str(error)
