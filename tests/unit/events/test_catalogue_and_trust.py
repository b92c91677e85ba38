"""The catalogue's rules and the source trust table: pure functions, no service."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cercle_common.errors import Forbidden, ValidationError
from services.events.domain.catalogue import (
    CONTENT,
    COURSE,
    SURVEY,
    ShareOnRecord,
    check_against_item,
    check_share_reference,
    parse_item,
)
from services.events.domain.trust import (
    ADMIN,
    HTTP,
    KAFKA,
    TRUSTED_SOURCES,
    check_source_may_send,
    door_of,
    source_spoken,
    sources_of_caller,
)

NOON = datetime(2026, 11, 10, 12, tzinfo=UTC)
SURVEY_ITEM = {
    "kind": SURVEY,
    "id": "pulse-1",
    "active": True,
    "questions": [
        {"question_id": "q-nps", "kind": "enps"},
        {"question_id": "q-mood", "kind": "pulse"},
    ],
}
COURSE_ITEM = {"kind": COURSE, "id": "k-1", "title": "AI at work", "track": "ai", "active": True}


def _refused(call, *args) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        call(*args)
    return caught.value


# -- parsing items -----------------------------------------------------------------------


def test_a_content_is_kept_with_its_window_in_utc() -> None:
    item = parse_item(
        CONTENT,
        "c-1",
        {
            "title": "New offices",
            "url": "https://example.org/c-1",
            "active_from": "2026-11-01T10:00:00+01:00",
            "active_until": "2026-12-01T00:00:00Z",
        },
    )
    assert item == {
        "kind": CONTENT,
        "id": "c-1",
        "title": "New offices",
        "url": "https://example.org/c-1",
        "active_from": "2026-11-01T09:00:00Z",
        "active_until": "2026-12-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        (CONTENT, {"url": "https://example.org"}, "title"),
        (CONTENT, {"title": "t", "url": "ftp://example.org"}, "url"),
        (
            CONTENT,
            {"title": "t", "url": "https://e.org", "active_from": "yesterday"},
            "active_from",
        ),
        (
            CONTENT,
            {
                "title": "t",
                "url": "https://e.org",
                "active_from": "2026-11-02T00:00:00Z",
                "active_until": "2026-11-01T00:00:00Z",
            },
            "active_until",
        ),
        (COURSE, {"title": "t"}, "track"),
        (COURSE, {"title": "t", "track": "ai", "points": 500}, "points"),
        (SURVEY, {"questions": []}, "questions"),
        (SURVEY, {"questions": [{"question_id": "q", "kind": "stars"}]}, "questions.0.kind"),
        (SURVEY, {"questions": [{"kind": "enps"}]}, "questions.0.question_id"),
        (
            SURVEY,
            {"questions": [{"question_id": "q", "kind": "enps"}] * 2},
            "questions.1.question_id",
        ),
    ],
)
def test_a_bad_item_is_refused_naming_the_field(kind: str, body: dict, field: str) -> None:
    assert _refused(parse_item, kind, "x-1", body).field == field


def test_an_item_id_must_be_a_short_non_blank_text() -> None:
    assert _refused(parse_item, COURSE, " ", {"title": "t", "track": "a"}).field == "id"
    assert _refused(parse_item, COURSE, "k" * 129, {"title": "t", "track": "a"}).field == "id"


# -- events against items ----------------------------------------------------------------


def test_an_invented_course_or_survey_earns_nothing() -> None:
    course = {"course_id": "k-404", "track": "ai"}
    assert _refused(check_against_item, "course.completed", course, NOON, None).field == (
        "data.course_id"
    )
    answer = {"survey_id": "s-404", "question_id": "q", "kind": "enps"}
    assert _refused(check_against_item, "survey.answered", answer, NOON, None).field == (
        "data.survey_id"
    )


def test_a_course_must_be_reported_on_its_own_track() -> None:
    good = {"course_id": "k-1", "track": "ai"}
    check_against_item("course.completed", good, NOON, COURSE_ITEM)
    other = {"course_id": "k-1", "track": "compliance"}
    assert _refused(check_against_item, "course.completed", other, NOON, COURSE_ITEM).field == (
        "data.track"
    )


def test_an_answer_must_name_a_question_of_the_survey_with_its_kind() -> None:
    check_against_item(
        "survey.answered", {"question_id": "q-nps", "kind": "enps"}, NOON, SURVEY_ITEM
    )
    padded = {"question_id": "q-extra", "kind": "enps"}
    assert _refused(check_against_item, "survey.answered", padded, NOON, SURVEY_ITEM).field == (
        "data.question_id"
    )
    wrong_kind = {"question_id": "q-mood", "kind": "enps"}
    error = _refused(check_against_item, "survey.answered", wrong_kind, NOON, SURVEY_ITEM)
    assert error.field == "data.kind"


def test_a_withdrawn_item_takes_no_new_events() -> None:
    withdrawn = {**COURSE_ITEM, "active": False}
    good = {"course_id": "k-1", "track": "ai"}
    assert _refused(check_against_item, "course.completed", good, NOON, withdrawn).field == (
        "data.course_id"
    )


def test_a_content_is_shared_only_within_its_window() -> None:
    content = {
        "kind": CONTENT,
        "id": "c-1",
        "active": True,
        "active_from": "2026-11-10T12:00:00Z",
        "active_until": "2026-11-11T00:00:00Z",
    }
    share = {"content_id": "c-1"}
    check_against_item("content.shared", share, NOON, content)
    before = datetime(2026, 11, 10, 11, 59, 59, tzinfo=UTC)
    after = datetime(2026, 11, 11, tzinfo=UTC)
    for instant in (before, after):
        error = _refused(check_against_item, "content.shared", share, instant, content)
        assert error.field == "data.content_id"


def test_a_share_follow_up_names_an_accepted_share_of_the_same_employee() -> None:
    check_share_reference("e-1", ShareOnRecord("content.shared", "e-1"))
    for share in (
        None,
        ShareOnRecord("content.shared", "e-2"),
        ShareOnRecord("course.completed", "e-1"),
    ):
        error = _refused(check_share_reference, "e-1", share)
        assert error.field == "data.share_event_id"


# -- who may send what -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "event_type", "door"),
    [
        ("gateway", "content.shared", HTTP),
        ("gateway", "survey.answered", HTTP),
        ("gateway", "points.adjusted", ADMIN),
        ("lms", "course.completed", KAFKA),
        ("social-tracker", "share.engaged", KAFKA),
        ("survey-tool", "survey.answered", HTTP),
        ("directory", "employee.erased", KAFKA),
        ("admin", "points.adjusted", ADMIN),
    ],
)
def test_each_tool_may_send_the_facts_it_is_the_authority_on(
    source: str, event_type: str, door: str
) -> None:
    check_source_may_send(source, event_type, door)


@pytest.mark.parametrize(
    ("source", "event_type", "door"),
    [
        ("gateway", "course.completed", HTTP),  # the LMS says who finished a course
        ("gateway", "share.engaged", HTTP),  # reach comes from the networks
        ("gateway", "content.shared", KAFKA),
        ("lms", "survey.answered", HTTP),
        ("directory", "employee.upserted", HTTP),  # HR sync: inbound topic only
        ("social-tracker", "employee.erased", KAFKA),
        ("social-tracker", "points.adjusted", ADMIN),
    ],
)
def test_a_known_source_overstepping_is_forbidden_naming_source(
    source: str, event_type: str, door: str
) -> None:
    with pytest.raises(Forbidden) as caught:
        check_source_may_send(source, event_type, door)
    assert caught.value.field == "source"


@pytest.mark.parametrize("source", [None, "", "test", "web", "e2e", 7])
def test_a_missing_or_unknown_source_is_invalid_naming_source(source: object) -> None:
    with pytest.raises(ValidationError) as caught:
        check_source_may_send(source, "content.shared", HTTP)
    assert caught.value.field == "source"


def test_every_ingestion_path_has_a_door_and_every_door_is_in_the_table() -> None:
    assert {door_of(path) for path in ("http", "http_batch", "kafka", "admin")} == {
        HTTP,
        KAFKA,
        ADMIN,
    }
    assert {door for doors in TRUSTED_SOURCES.values() for door in doors} == {HTTP, KAFKA, ADMIN}


def test_the_credential_says_which_source_speaks_and_a_payload_may_only_repeat_it() -> None:
    assert source_spoken(None, ("lms",)) == "lms"
    assert source_spoken("lms", ("lms",)) == "lms"
    with pytest.raises(Forbidden) as refused:
        # The LMS's credential claiming the survey tool's authority.
        source_spoken("survey-tool", ("lms",))
    assert refused.value.field == "source"
    assert "speaks for lms" in refused.value.message


def test_each_http_credential_speaks_for_its_own_holder() -> None:
    assert sources_of_caller("service") == ("gateway",)
    assert sources_of_caller("lms") == ("lms",)
    # An administrator acts directly, or through the gateway (adjustments).
    assert sources_of_caller("admin") == ("admin", "gateway")
