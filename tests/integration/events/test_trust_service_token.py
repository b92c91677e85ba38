"""Credentials: the events, points and badges APIs answer only Cercle's own components
(the gateway with the service token, the administrator, each internal tool with its own
token on the event door), except health, metrics and Open Badges hosted verification,
which stay public. A tool's token says which source speaks; a payload may not contradict it."""

from __future__ import annotations

from collections.abc import Iterator

import mongoengine
import pytest
from flask import Flask
from flask.testing import FlaskClient

from cercle_common.settings import Settings
from services.badges.entrypoints.app import create_app as create_badges_app
from services.points.entrypoints.app import create_app as create_points_app

POINTS_ALIAS = "points-api"


@pytest.fixture
def points_app(settings: Settings) -> Iterator[Flask]:
    yield create_points_app(settings)
    mongoengine.disconnect(alias=POINTS_ALIAS)


@pytest.fixture
def badges_app(settings: Settings) -> Iterator[Flask]:
    made = create_badges_app(settings, email_of=lambda employee_id: "ann@example.org")
    yield made
    made.extensions["badges"].close()


def _refused_for_want_of_a_token(response) -> bool:
    return response.status_code == 401 and response.json["error"]["field"] == "Authorization"


@pytest.mark.parametrize("header", [None, "Bearer not-the-token", "Basic c2VydmljZQ==", "Bearer "])
def test_events_api_refuses_directory_writes_erasure_events_and_reads_without_the_token(
    app: Flask, client: FlaskClient, new_employee, make_share, header: str | None
) -> None:
    employee = new_employee()  # `client` presents the token
    anonymous = app.test_client()
    headers = {"Authorization": header} if header is not None else {}
    record = {"display_name": "Mallory", "email": "m@example.org", "team": "growth"}
    calls = [
        anonymous.put(f"/v1/employees/{employee}", json=record, headers=headers),
        anonymous.put("/v1/employees/intruder", json=record, headers=headers),
        anonymous.delete(f"/v1/employees/{employee}", headers=headers),
        anonymous.post("/v1/events", json=make_share(employee), headers=headers),
        anonymous.post(
            "/v1/events:batch", json={"events": [make_share(employee)]}, headers=headers
        ),
        anonymous.get(f"/v1/employees?ids={employee}", headers=headers),
        anonymous.get(f"/v1/employees/{employee}", headers=headers),
        anonymous.get("/v1/surveys/s/enps", headers=headers),
        anonymous.get("/v1/admin/catalogue/courses", headers=headers),
    ]
    assert [c.status_code for c in calls] == [401] * len(calls)
    assert all(_refused_for_want_of_a_token(c) for c in calls)
    # Nothing was written nor erased.
    assert client.get(f"/v1/employees/{employee}").json["display_name"] == "Ann Lee"
    assert client.get("/v1/employees/intruder").status_code == 404


def test_events_api_takes_the_service_or_the_admin_token_each_speaking_for_its_holder(
    app: Flask, settings: Settings, new_employee, make_share
) -> None:
    employee = new_employee()
    caller = app.test_client()
    for token in (settings.service_token, settings.admin_token):
        share = {**make_share(employee), "source": "gateway"}
        answer = caller.post("/v1/events", json=share, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 201, answer.json


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_tool_token_names_the_source_and_a_payload_may_not_claim_another(
    app: Flask, settings: Settings, new_employee, make_share
) -> None:
    employee = new_employee()
    caller = app.test_client()
    course = {
        "id": f"lms-{employee}",
        "type": "course.completed",
        "occurred_at": make_share(employee)["occurred_at"],
        "employee_id": employee,
        "data": {"course_id": "k-1", "track": "ai", "score": 90, "duration_minutes": 30},
    }
    # Whoever holds the gateway's token (or the tracker's) cannot grant a completion.
    for token in (settings.service_token, settings.social_tracker_token):
        forged = caller.post("/v1/events", json={**course, "source": "lms"}, headers=_bearer(token))
        assert forged.status_code == 403 and forged.json["error"]["field"] == "source"
        unnamed = caller.post("/v1/events", json=course, headers=_bearer(token))
        assert unnamed.status_code == 403 and unnamed.json["error"]["field"] == "source"
    # The LMS's own token: no source needed, and the stored event says lms.
    done = caller.post("/v1/events", json=course, headers=_bearer(settings.lms_token))
    assert done.status_code == 201, done.json
    assert done.json["source"] == "lms"
    # The LMS claiming the survey tool's authority is refused, naming the field.
    answer = {**course, "id": f"sv-{employee}", "source": "survey-tool"}
    claimed = caller.post("/v1/events", json=answer, headers=_bearer(settings.lms_token))
    assert claimed.status_code == 403 and claimed.json["error"]["field"] == "source"
    batch = caller.post(
        "/v1/events:batch",
        json={"events": [{**course, "id": f"b-{employee}", "source": "survey-tool"}]},
        headers=_bearer(settings.lms_token),
    )
    assert batch.json["results"][0]["error"]["field"] == "source"


def test_a_tool_token_opens_the_event_door_only_and_the_directory_for_the_hr_tool(
    app: Flask, settings: Settings, new_employee
) -> None:
    employee = new_employee()
    caller = app.test_client()
    lms = _bearer(settings.lms_token)
    record = {"display_name": "Mallory", "email": "m@example.org", "team": "growth"}
    refused = [
        caller.get(f"/v1/employees/{employee}", headers=lms),
        caller.get(f"/v1/employees?ids={employee}", headers=lms),
        caller.get("/v1/surveys/s/enps", headers=lms),
        caller.put(f"/v1/employees/{employee}", json=record, headers=lms),
        caller.delete(f"/v1/employees/{employee}", headers=lms),
        caller.get("/v1/admin/catalogue/courses", headers=lms),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert all(r.json["error"]["field"] == "Authorization" for r in refused)
    directory = _bearer(settings.directory_token)
    hired = caller.put("/v1/employees/hired-by-hr", json=record, headers=directory)
    assert hired.status_code == 201
    assert caller.delete("/v1/employees/hired-by-hr", headers=directory).status_code == 200
    assert caller.get(f"/v1/employees/{employee}", headers=directory).status_code == 403


def test_the_points_and_badges_apis_refuse_the_tools_tokens(
    points_app: Flask, badges_app: Flask, settings: Settings
) -> None:
    for token in settings.tool_tokens().values():
        points = points_app.test_client().get(
            "/v1/leaderboards/employees?period=all", headers=_bearer(token)
        )
        badges = badges_app.test_client().get("/v1/badges", headers=_bearer(token))
        assert _refused_for_want_of_a_token(points) and _refused_for_want_of_a_token(badges)


def test_points_api_refuses_private_reads_without_the_token(
    points_app: Flask, settings: Settings
) -> None:
    anonymous = points_app.test_client()
    paths = [
        "/v1/employees/e-1/points",
        "/v1/employees/e-1/ledger",
        "/v1/leaderboards/employees?period=all",
        "/v1/leaderboards/employees/around/e-1?period=all",
        "/v1/leaderboards/teams?period=all",
        "/v1/leaderboards/sites?period=all",
    ]
    for path in paths:
        assert _refused_for_want_of_a_token(anonymous.get(path)), path
    served = anonymous.get(
        "/v1/leaderboards/employees?period=all",
        headers={"Authorization": f"Bearer {settings.service_token}"},
    )
    assert served.status_code == 200


def test_badges_api_refuses_reads_without_the_token_but_open_badges_stay_public(
    badges_app: Flask, settings: Settings
) -> None:
    anonymous = badges_app.test_client()
    for path in ("/v1/badges", "/v1/badges/first-share", "/v1/employees/e-1/badges"):
        assert _refused_for_want_of_a_token(anonymous.get(path)), path
    revoke = anonymous.post("/v1/admin/awards/a/revoke", json={"reason": "x"})
    assert revoke.status_code == 401
    served = anonymous.get(
        "/v1/badges", headers={"Authorization": f"Bearer {settings.service_token}"}
    )
    assert served.status_code == 200
    # Hosted verification: anyone holding a badge URL checks it without credentials.
    assert anonymous.get("/ob/issuer").status_code == 200
    assert anonymous.get("/ob/v3/jwks").status_code == 200
    assert anonymous.get("/ob/assertions/nobody:first-share:standard").status_code == 404


def test_health_and_metrics_stay_open_on_every_service(
    app: Flask, points_app: Flask, badges_app: Flask
) -> None:
    for service in (app, points_app, badges_app):
        anonymous = service.test_client()
        for path in ("/healthz", "/readyz", "/metrics"):
            assert anonymous.get(path).status_code == 200, (service.name, path)


def test_the_service_token_may_not_rewrite_nor_erase_employees(
    client: FlaskClient, new_employee, admin_headers
) -> None:
    employee = new_employee()
    record = {"display_name": "Ann Lee", "email": "mallory@example.org", "team": "growth"}
    rewrite = client.put(f"/v1/employees/{employee}", json=record)
    hire = client.put("/v1/employees/someone-new", json=record)
    erase = client.delete(f"/v1/employees/{employee}")
    assert [r.status_code for r in (rewrite, hire, erase)] == [403, 403, 403]
    assert all(r.json["error"]["field"] == "Authorization" for r in (rewrite, hire, erase))
    # Nothing changed; the admin token may.
    assert client.get(f"/v1/employees/{employee}").json["email"] == "ann@example.org"
    assert client.get("/v1/employees/someone-new").status_code == 404
    assert client.delete(f"/v1/employees/{employee}", headers=admin_headers).status_code == 200
