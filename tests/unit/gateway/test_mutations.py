"""Mutations record events as the token's employee, or answer field-level errors."""

from __future__ import annotations

from typing import Any

from cercle_common.errors import NotFound, ValidationError
from gateway.auth import Caller

ALICE = Caller("e-1")
ADMIN = Caller("e-admin", frozenset({"admin"}))

CHARTER = (
    'mutation { acknowledgeCharter(input: {charterId: "c", version: "1"}) { errors { field } } }'
)
EVENT = "event { id type employeeId source sequence occurredAt data } errors { field code message }"


def test_record_share_records_content_shared_as_the_caller(run: Any, services: Any) -> None:
    query = """mutation { recordShare(input: {eventId: "01JSHARE", contentId: "c-77",
        network: LINKEDIN, url: "https://example.org/p", tags: ["ai"],
        occurredAt: "2026-11-26T09:30:00Z"}) { EVENT } }""".replace("EVENT", EVENT)
    assert run(query, caller=ALICE) == {
        "data": {
            "recordShare": {
                "event": {
                    "id": "01JSHARE",
                    "type": "content.shared",
                    "employeeId": "e-1",
                    "source": "gateway",
                    "sequence": 1,
                    "occurredAt": "2026-11-26T09:30:00+00:00",
                    "data": '{"content_id": "c-77", "network": "linkedin",'
                    ' "url": "https://example.org/p", "tags": ["ai"]}',
                },
                "errors": [],
            }
        }
    }
    assert services.events.recorded == [
        {
            "id": "01JSHARE",
            "type": "content.shared",
            "schema_version": 1,
            "occurred_at": "2026-11-26T09:30:00Z",
            "employee_id": "e-1",
            "source": "gateway",
            "data": {
                "content_id": "c-77",
                "network": "linkedin",
                "url": "https://example.org/p",
                "tags": ["ai"],
            },
            "sequence": 1,
            "accepted_at": "2026-11-26T10:00:00Z",
        }
    ]


def test_an_event_id_is_chosen_when_the_caller_gives_none(run: Any, services: Any) -> None:
    query = """mutation { acknowledgeCharter(input: {charterId: "social", version: "2"}) {
        event { id type } } }"""
    result = run(query, caller=ALICE)
    event = result["data"]["acknowledgeCharter"]["event"]
    assert event["type"] == "charter.acknowledged"
    assert len(event["id"]) == 26
    assert services.events.recorded[0]["data"] == {"charter_id": "social", "version": "2"}


def test_complete_course_sends_the_course_fields(run: Any, services: Any) -> None:
    query = """mutation { completeCourse(input: {courseId: "k-1", track: "ai", score: 88,
        durationMinutes: 45}) { errors { field } } }"""
    assert run(query, caller=ALICE) == {"data": {"completeCourse": {"errors": []}}}
    assert services.events.recorded[0]["type"] == "course.completed"
    assert services.events.recorded[0]["data"] == {
        "course_id": "k-1",
        "track": "ai",
        "score": 88,
        "duration_minutes": 45,
    }


def test_answer_survey_sends_the_score_as_the_value(run: Any, services: Any) -> None:
    query = """mutation { answerSurvey(input: {surveyId: "q4", questionId: "nps", kind: ENPS,
        score: 9}) { errors { field } } }"""
    assert run(query, caller=ALICE) == {"data": {"answerSurvey": {"errors": []}}}
    assert services.events.recorded[0]["data"] == {
        "survey_id": "q4",
        "question_id": "nps",
        "kind": "enps",
        "value": 9,
    }


def test_an_enps_answer_without_a_score_is_a_field_error(run: Any, services: Any) -> None:
    query = """mutation { answerSurvey(input: {surveyId: "q4", questionId: "nps", kind: ENPS,
        text: "great"}) { event { id } errors { field code message } } }"""
    assert run(query, caller=ALICE) == {
        "data": {
            "answerSurvey": {
                "event": None,
                "errors": [
                    {
                        "field": "input.score",
                        "code": "invalid",
                        "message": "is required for ENPS questions",
                    }
                ],
            }
        }
    }
    assert services.events.recorded == []


def test_a_refusal_by_the_events_service_names_the_graphql_input_field(
    run: Any, services: Any
) -> None:
    services.events.refusal = ValidationError("not a URL", "data.url")
    query = """mutation { recordShare(input: {contentId: "c-1", network: X, url: "nope"}) {
        event { id } errors { field code message } } }"""
    assert run(query, caller=ALICE) == {
        "data": {
            "recordShare": {
                "event": None,
                "errors": [{"field": "input.url", "code": "invalid", "message": "not a URL"}],
            }
        }
    }


def test_an_unknown_caller_is_an_error_about_no_input_field(run: Any, services: Any) -> None:
    services.events.refusal = NotFound("unknown employee", "employee_id")
    query = """mutation { acknowledgeCharter(input: {charterId: "c", version: "1"}) {
        errors { field code message } } }"""
    assert run(query, caller=Caller("ghost")) == {
        "data": {
            "acknowledgeCharter": {
                "errors": [{"field": None, "code": "not_found", "message": "unknown employee"}]
            }
        }
    }


def test_mutations_need_a_token(run: Any, services: Any) -> None:
    query = CHARTER
    result = run(query)
    assert result["data"] == {"acknowledgeCharter": None}
    assert result["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert services.events.recorded == []


def test_adjust_points_needs_the_admin_role(run: Any, services: Any) -> None:
    query = """mutation { adjustPoints(input: {employeeId: "e-3", points: 50, reason: "x"}) {
        event { id } } }"""
    result = run(query, caller=ALICE)
    assert result["data"] == {"adjustPoints": None}
    assert result["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    assert services.events.admin_recorded == []


def test_adjust_points_by_an_admin_goes_through_the_admin_path(run: Any, services: Any) -> None:
    query = """mutation { adjustPoints(input: {employeeId: "e-3", points: -20,
        reason: "duplicate share"}) { event { type employeeId data } errors { field } } }"""
    assert run(query, caller=ADMIN) == {
        "data": {
            "adjustPoints": {
                "event": {
                    "type": "points.adjusted",
                    "employeeId": "e-3",
                    "data": '{"points": -20, "reason": "duplicate share"}',
                },
                "errors": [],
            }
        }
    }
    assert services.events.recorded == []
    assert len(services.events.admin_recorded) == 1


def test_upsert_employee_by_an_admin_returns_the_stored_profile(run: Any, services: Any) -> None:
    query = """mutation { upsertEmployee(input: {id: "e-50", displayName: "Nina Roux",
        email: "nina@example.org", team: "t-tech", site: "s-paris", visibility: PSEUDONYM,
        pseudonym: "Hibou", active: true, fte: 0.8}) {
        employee { id displayName pseudonym visibility team fte } errors { field } } }"""
    assert run(query, caller=ADMIN) == {
        "data": {
            "upsertEmployee": {
                "employee": {
                    "id": "e-50",
                    "displayName": "Hibou",
                    "pseudonym": "Hibou",
                    "visibility": "PSEUDONYM",
                    "team": "t-tech",
                    "fte": 0.8,
                },
                "errors": [],
            }
        }
    }
    assert services.events.upserted == [
        (
            "e-50",
            {
                "display_name": "Nina Roux",
                "email": "nina@example.org",
                "team": "t-tech",
                "site": "s-paris",
                "visibility": "pseudonym",
                "pseudonym": "Hibou",
                "active": True,
                "fte": 0.8,
            },
        )
    ]


def test_upsert_employee_refused_field_is_named_in_camel_case(run: Any, services: Any) -> None:
    services.events.refusal = ValidationError("must be an ISO country code", "country")
    query = """mutation { upsertEmployee(input: {id: "e-50", displayName: "N",
        email: "n@example.org", country: "Francia"}) {
        employee { id } errors { field message } } }"""
    assert run(query, caller=ADMIN) == {
        "data": {
            "upsertEmployee": {
                "employee": None,
                "errors": [{"field": "input.country", "message": "must be an ISO country code"}],
            }
        }
    }


def test_upsert_employee_needs_the_admin_role(run: Any, services: Any) -> None:
    query = """mutation { upsertEmployee(input: {id: "e-1", displayName: "Me",
        email: "me@example.org"}) { errors { field } } }"""
    result = run(query, caller=ALICE)
    assert result["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    assert services.events.upserted == []


def test_events_service_down_is_an_error_on_the_mutation(run: Any, services: Any) -> None:
    services.events.down = True
    query = CHARTER
    result = run(query, caller=ALICE)
    assert result["data"] == {"acknowledgeCharter": None}
    assert result["errors"][0]["message"] == "the events service is unavailable"
    assert result["errors"][0]["extensions"] == {"code": "SERVICE_UNAVAILABLE"}


def test_there_is_no_argument_to_act_as_someone_else(run: Any, services: Any) -> None:
    query = """mutation { acknowledgeCharter(input: {charterId: "c", version: "1",
        employeeId: "e-3"}) { errors { field } } }"""
    result = run(query, caller=ALICE)
    assert result["data"] is None
    assert "employeeId" in result["errors"][0]["message"]
    assert services.events.recorded == []


def test_an_instant_with_no_utc_equivalent_reaches_the_events_service_to_be_refused(
    run: Any, services: Any
) -> None:
    # Year 1 at +05:00 is before year 1 in UTC: it cannot be converted, only refused.
    query = """mutation { recordShare(input: {contentId: "c-77", network: X,
        url: "https://example.org/p", occurredAt: "0001-01-01T00:00:00+05:00"})
        { errors { field code } } }"""
    services.events.refusal = ValidationError("has no UTC equivalent", "occurred_at")
    assert run(query, caller=ALICE) == {
        "data": {"recordShare": {"errors": [{"field": "input.occurredAt", "code": "invalid"}]}}
    }
    services.events.refusal = None
    assert "errors" not in run(query, caller=ALICE)
    assert services.events.recorded[-1]["occurred_at"] == "0001-01-01T00:00:00+05:00"
