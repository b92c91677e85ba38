"""The event validators: what passes, what is refused and which field is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cercle_common.envelope import Envelope
from cercle_common.errors import Forbidden, ValidationError
from services.events.domain import events

SHARE = {"content_id": "c-1", "network": "linkedin", "url": "https://example.org/p/1"}


def test_valid_share_keeps_its_fields() -> None:
    assert events.validate_data("content.shared", {**SHARE, "tags": ["q4"]}) == {
        **SHARE,
        "tags": ["q4"],
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**SHARE, "network": "myspace"}, "data.network"),
        ({k: v for k, v in SHARE.items() if k != "url"}, "data.url"),
        ({**SHARE, "url": "ftp://x"}, "data.url"),
        ({**SHARE, "tags": "q4"}, "data.tags"),
        ({**SHARE, "tags": ["ok", ""]}, "data.tags.1"),
        ({**SHARE, "colour": "red"}, "data.colour"),
    ],
)
def test_bad_share_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        events.validate_data("content.shared", data)
    assert caught.value.field == field


def test_course_score_above_100_is_refused() -> None:
    data = {"course_id": "k", "track": "ai", "score": 101, "duration_minutes": 30}
    with pytest.raises(ValidationError, match="at most 100") as caught:
        events.validate_data("course.completed", data)
    assert caught.value.field == "data.score"


def test_boolean_is_not_an_integer() -> None:
    data = {"share_event_id": "s", "clicks": True, "reactions": 0, "comments": 0, "reshares": 0}
    with pytest.raises(ValidationError) as caught:
        events.validate_data("share.engaged", data)
    assert caught.value.field == "data.clicks"


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("enps", 10, True),
        ("enps", 11, False),
        ("pulse", 0, False),
        ("pulse", 5, True),
        ("text", "fine", True),
        ("text", 3, False),
        ("enps", "9", False),
    ],
)
def test_survey_value_range_depends_on_kind(kind: str, value: object, ok: bool) -> None:
    data = {"survey_id": "s", "question_id": "q", "kind": kind, "value": value}
    if ok:
        assert events.validate_data("survey.answered", data)["value"] == value
    else:
        with pytest.raises(ValidationError) as caught:
            events.validate_data("survey.answered", data)
        assert caught.value.field == "data.value"


def test_survey_value_is_not_published() -> None:
    data = {"survey_id": "s", "question_id": "q", "kind": "enps", "value": 3}
    assert events.public_data("survey.answered", data) == {
        "survey_id": "s",
        "question_id": "q",
        "kind": "enps",
    }


def test_points_adjusted_needs_the_admin_door() -> None:
    with pytest.raises(Forbidden) as caught:
        events.check_type_allowed("points.adjusted", admin=False)
    assert caught.value.field == "type"
    events.check_type_allowed("points.adjusted", admin=True)


def test_zero_point_adjustment_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        events.validate_data("points.adjusted", {"points": 0, "reason": "typo"})
    assert caught.value.field == "data.points"


def test_unknown_type_is_refused_naming_type() -> None:
    with pytest.raises(ValidationError) as caught:
        events.check_type_allowed("content.liked", admin=True)
    assert caught.value.field == "type"


def test_service_fields_cannot_be_sent() -> None:
    with pytest.raises(ValidationError) as caught:
        events.check_envelope_fields({"id": "x", "sequence": 4})
    assert caught.value.field == "sequence"


def test_occurred_at_more_than_five_minutes_ahead_is_refused() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    events.check_not_in_future(now + timedelta(minutes=5), now)
    with pytest.raises(ValidationError) as caught:
        events.check_not_in_future(now + timedelta(minutes=5, seconds=1), now)
    assert caught.value.field == "occurred_at"


def _envelope(**changes: object) -> Envelope:
    base = {
        "id": "e1",
        "type": "content.shared",
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
        "employee_id": "e-1",
        "data": SHARE,
        "source": "web",
    }
    return Envelope(**{**base, **changes})  # type: ignore[arg-type]


def test_fingerprint_ignores_key_order_and_offset_notation() -> None:
    reordered = dict(reversed(list(SHARE.items())))
    paris = datetime.fromisoformat("2026-01-01T01:00:00+01:00")
    assert events.fingerprint(_envelope()) == events.fingerprint(
        _envelope(data=reordered, occurred_at=paris)
    )


def test_fingerprint_changes_with_content() -> None:
    assert events.fingerprint(_envelope()) != events.fingerprint(
        _envelope(data={**SHARE, "network": "x"})
    )


def test_fingerprint_of_a_survey_answer_ignores_the_private_value() -> None:
    answer = {"survey_id": "s", "question_id": "q", "kind": "enps"}
    guesses = {
        events.fingerprint(_envelope(type="survey.answered", data={**answer, "value": value}))
        for value in range(11)
    }
    assert len(guesses) == 1  # a re-post with any guess is judged the same way
    other_question = _envelope(type="survey.answered", data={**answer, "question_id": "q2"})
    assert events.fingerprint(other_question) not in guesses  # other differences still count


def test_occurred_at_older_than_the_maximum_age_is_refused() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    max_age = timedelta(days=30)
    events.check_not_too_old(now - max_age, now, max_age)
    with pytest.raises(ValidationError) as caught:
        events.check_not_too_old(now - max_age - timedelta(seconds=1), now, max_age)
    assert caught.value.field == "occurred_at" and "30 days" in caught.value.message


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:30:00+14:00",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:00:00-23:59",
    ],
)
def test_an_instant_without_a_utc_equivalent_is_a_field_error(occurred_at: str) -> None:
    body = {"id": "e1", "type": "content.shared", "employee_id": "e-1", "data": SHARE}
    with pytest.raises(ValidationError) as caught:
        Envelope.from_dict({**body, "occurred_at": occurred_at})
    assert caught.value.field == "occurred_at"
