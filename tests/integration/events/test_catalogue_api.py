"""The admin catalogue (contents, courses, surveys) and what it does to events: an action
earns only when it names an item of the catalogue, sent by the tool trusted with it."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cercle_common.envelope import format_instant
from cercle_common.messaging import make_producer
from cercle_common.topics import DEADLETTER, INBOUND_TOPICS
from services.events.entrypoints.consumer import build_loop


def _now() -> str:
    return format_instant(datetime.now(UTC))


def _event(employee: str, type_: str, source: str, **data: Any) -> dict[str, Any]:
    return {
        "id": f"ev-{uuid.uuid4().hex}",
        "type": type_,
        "occurred_at": _now(),
        "employee_id": employee,
        "source": source,
        "data": data,
    }


def _course(employee: str, course_id: str = "k-1", track: str = "ai", source: str = "lms"):
    return _event(
        employee,
        "course.completed",
        source,
        course_id=course_id,
        track=track,
        score=90,
        duration_minutes=30,
    )


def _answer(employee: str, survey: str, question: str, kind: str = "enps") -> dict[str, Any]:
    return _event(
        employee,
        "survey.answered",
        "survey-tool",
        survey_id=survey,
        question_id=question,
        kind=kind,
        value=9 if kind == "enps" else 4,
    )


def _refusal(response) -> tuple[int, str | None]:
    return response.status_code, response.json["error"]["field"]


# -- the admin API -----------------------------------------------------------------------


def test_admin_keeps_courses_create_replace_read_list_and_withdraw(client, admin_headers) -> None:
    url = "/v1/admin/catalogue/courses/k-ai"
    course = {"title": "AI at work", "track": "digital-skills"}
    created = client.put(url, json=course, headers=admin_headers)
    assert created.status_code == 201
    assert created.json == {
        "kind": "course",
        "id": "k-ai",
        **course,
        "active": True,
        "updated_at": created.json["updated_at"],
    }
    renamed = client.put(
        url, json={**course, "title": "AI at work, 2nd ed."}, headers=admin_headers
    )
    assert renamed.status_code == 200
    assert client.get(url, headers=admin_headers).json["title"] == "AI at work, 2nd ed."

    for n in range(3):
        client.put(f"/v1/admin/catalogue/courses/k-x{n}", json=course, headers=admin_headers)
    first = client.get("/v1/admin/catalogue/courses?first=2", headers=admin_headers).json
    assert [item["id"] for item in first["items"]] == ["k-1", "k-ai"]  # k-1: the fixture's
    rest = client.get(
        f"/v1/admin/catalogue/courses?first=10&after={first['next_after']}", headers=admin_headers
    ).json
    assert [item["id"] for item in rest["items"]] == ["k-x0", "k-x1", "k-x2"]
    assert rest["next_after"] is None

    withdrawn = client.delete(url, headers=admin_headers)
    assert withdrawn.status_code == 200 and withdrawn.json["active"] is False
    assert client.get(url, headers=admin_headers).json["active"] is False


def test_admin_catalogue_refuses_bad_items_naming_the_field(client, admin_headers) -> None:
    cases = [
        ("courses/k-2", {"title": "t"}, 422, "track"),
        ("contents/c-2", {"title": "t", "url": "not a url"}, 422, "url"),
        (
            "surveys/s-2",
            {"questions": [{"question_id": "q", "kind": "stars"}]},
            422,
            "questions.0.kind",
        ),
        ("badges/b-1", {"title": "t"}, 404, "collection"),
    ]
    for path, body, status, field in cases:
        answer = client.put(f"/v1/admin/catalogue/{path}", json=body, headers=admin_headers)
        assert _refusal(answer) == (status, field), path
    assert _refusal(client.get("/v1/admin/catalogue/courses?first=0", headers=admin_headers)) == (
        422,
        "first",
    )
    missing = client.get("/v1/admin/catalogue/courses/k-404", headers=admin_headers)
    assert _refusal(missing) == (404, "id")
    assert (
        client.delete("/v1/admin/catalogue/courses/k-404", headers=admin_headers).status_code == 404
    )


def test_admin_catalogue_wants_the_admin_token_not_the_service_token(app, client) -> None:
    course = {"title": "t", "track": "ai"}
    # `client` presents the service token: the service, not its admin door.
    assert client.put("/v1/admin/catalogue/courses/k-9", json=course).status_code == 403
    assert client.get("/v1/admin/catalogue/courses").status_code == 403
    anonymous = app.test_client()
    assert anonymous.put("/v1/admin/catalogue/courses/k-9", json=course).status_code == 401


# -- events against the catalogue --------------------------------------------------------


def test_an_invented_course_earns_nothing_and_a_real_one_on_its_track_does(
    client, admin_headers, new_employee
) -> None:
    employee = new_employee()
    assert _refusal(client.post("/v1/events", json=_course(employee, "k-invented"))) == (
        422,
        "data.course_id",
    )
    wrong_track = _course(employee, track="compliance")
    assert _refusal(client.post("/v1/events", json=wrong_track)) == (422, "data.track")
    assert client.post("/v1/events", json=_course(employee)).status_code == 201

    client.delete("/v1/admin/catalogue/courses/k-1", headers=admin_headers)
    assert _refusal(client.post("/v1/events", json=_course(employee))) == (422, "data.course_id")


def test_a_survey_answer_must_name_a_question_of_the_survey_with_its_kind(
    client, admin_headers, new_employee
) -> None:
    employee = new_employee()
    survey = {
        "questions": [
            {"question_id": "nps", "kind": "enps"},
            {"question_id": "mood", "kind": "pulse"},
        ]
    }
    client.put("/v1/admin/catalogue/surveys/pulse-q4", json=survey, headers=admin_headers)
    cases = [
        (_answer(employee, "made-up", "nps"), "data.survey_id"),
        (_answer(employee, "pulse-q4", "nps-bis"), "data.question_id"),  # padding
        (_answer(employee, "pulse-q4", "mood", kind="enps"), "data.kind"),
    ]
    for event, field in cases:
        assert _refusal(client.post("/v1/events", json=event)) == (422, field)
    assert client.post("/v1/events", json=_answer(employee, "pulse-q4", "nps")).status_code == 201
    assert (
        client.post("/v1/events", json=_answer(employee, "pulse-q4", "mood", "pulse")).status_code
        == 201
    )


def test_a_content_is_shared_only_when_catalogued_and_within_its_window(
    client, admin_headers, new_employee, make_share
) -> None:
    employee = new_employee()
    assert _refusal(client.post("/v1/events", json=make_share(employee, content_id="c-404"))) == (
        422,
        "data.content_id",
    )
    starts = datetime.now(UTC) + timedelta(days=1)
    client.put(
        "/v1/admin/catalogue/contents/c-soon",
        json={
            "title": "Embargoed",
            "url": "https://example.org/soon",
            "active_from": format_instant(starts),
        },
        headers=admin_headers,
    )
    early = client.post("/v1/events", json=make_share(employee, content_id="c-soon"))
    assert _refusal(early) == (422, "data.content_id")
    assert client.post("/v1/events", json=make_share(employee)).status_code == 201


def test_a_share_follow_up_must_name_a_share_of_the_same_employee(
    client, new_employee, make_share
) -> None:
    owner, other = new_employee(), new_employee()
    share = make_share(owner)
    assert client.post("/v1/events", json=share).status_code == 201
    counts = {"clicks": 5, "reactions": 1, "comments": 0, "reshares": 0}

    def engaged(employee: str, share_id: str) -> dict[str, Any]:
        return _event(
            employee, "share.engaged", "social-tracker", share_event_id=share_id, **counts
        )

    for event in (
        engaged(other, share["id"]),  # someone else's post
        engaged(owner, "ev-no-such-share"),
        _event(other, "share.deleted", "gateway", share_event_id=share["id"]),
    ):
        assert _refusal(client.post("/v1/events", json=event)) == (422, "data.share_event_id")
    assert client.post("/v1/events", json=engaged(owner, share["id"])).status_code == 201

    # A share and what it drew may come in the same batch, in that order.
    fresh = make_share(owner)
    batch = client.post("/v1/events:batch", json={"events": [fresh, engaged(owner, fresh["id"])]})
    assert [r["status"] for r in batch.json["results"]] == [201, 201]


def test_sources_send_only_what_they_are_trusted_with(
    client, settings, new_employee, make_share
) -> None:
    employee = new_employee()
    cases = [
        (_course(employee, source="gateway"), 403),  # the LMS reports courses
        ({**make_share(employee), "source": "test"}, 403),  # the gateway's token says gateway
        (_event(employee, "charter.acknowledged", "lms", charter_id="ch", version="1"), 403),
    ]
    for event, status in cases:
        assert _refusal(client.post("/v1/events", json=event)) == (status, "source")
    lms = {"Authorization": f"Bearer {settings.lms_token}"}
    batch = client.post(
        "/v1/events:batch", json={"events": [cases[0][0], _course(employee)]}, headers=lms
    )
    assert [r["status"] for r in batch.json["results"]] == [403, 201]
    assert batch.json["results"][0]["error"]["field"] == "source"


# -- the inbound topic -------------------------------------------------------------------


def _headers(message) -> dict[str, str]:
    return {k: v.decode() for k, v in message.headers}


def test_inbound_dead_letters_invented_items_and_untrusted_sources(
    settings, store, new_employee, tail, inbound_group
) -> None:
    group = inbound_group
    dead = tail(DEADLETTER)
    employee = new_employee()
    hijack = {
        **_event(employee, "employee.upserted", "lms", display_name="Eve", team="finance"),
        "id": f"hr-{uuid.uuid4().hex}",
    }
    erase = {**_event(employee, "employee.erased", "social-tracker"), "data": {}}
    refused = {
        "invented-course": (_course(employee, "k-invented"), "data.course_id"),
        "padded-survey": (_answer(employee, "s", "q-extra"), "data.question_id"),
        "directory-from-lms": (hijack, "source"),
        "erasure-from-tracker": (erase, "source"),
        "course-from-gateway": (_course(employee, source="gateway"), "source"),
    }
    good = _course(employee)
    producer = make_producer(settings)
    for event, _field in refused.values():
        # On the topic of the tool it names (the LMS's for the one claiming the gateway).
        topic = INBOUND_TOPICS.get(event["source"], INBOUND_TOPICS["lms"])
        producer.send(topic, key=employee.encode(), value=json.dumps(event).encode())
    producer.send(INBOUND_TOPICS["lms"], key=employee.encode(), value=json.dumps(good).encode())
    producer.flush()
    producer.close()

    loop = build_loop(settings, group, store)
    runner = threading.Thread(target=loop.run, daemon=True)
    runner.start()
    try:
        letters = dead.wait_for(
            lambda ms: (
                len([m for m in ms if _headers(m)["cercle.consumer_group"] == group])
                >= len(refused)
                and store.find_event(good["id"]) is not None
            ),
            60,
        )
    finally:
        loop.stop()
        runner.join(timeout=30)

    fields = {
        json.loads(m.value)["id"]: _headers(m)["cercle.field"]
        for m in letters
        if _headers(m)["cercle.consumer_group"] == group
    }
    assert fields == {event["id"]: field for event, field in refused.values()}
    entry = store.find_employee(employee)
    assert (entry["display_name"], entry["team"], entry["erased"]) == ("Ann Lee", "growth", False)
