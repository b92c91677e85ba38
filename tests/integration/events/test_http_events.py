"""POST /v1/events, /v1/events:batch and the admin path against the real database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta


def test_new_event_waits_in_the_outbox_and_the_relay_gives_its_sequence(
    client, new_employee, make_share, store, publish_outbox
) -> None:
    employee = new_employee()
    event = make_share(employee)
    response = client.post("/v1/events", json=event)
    assert response.status_code == 201
    assert response.json["id"] == event["id"] and response.json["sequence"] is None
    assert store.count_pending() == 1  # waiting in the outbox for the relay
    assert store.find_stored_event(event["id"]) is None
    publish_outbox()
    sequence = store.find_stored_event(event["id"])["sequence"]
    assert sequence >= 1 and client.get(f"/v1/events/{event['id']}").json["sequence"] == sequence


def test_same_id_same_content_returns_the_stored_event(client, new_employee, make_share) -> None:
    event = make_share(new_employee())
    first = client.post("/v1/events", json=event)
    again = client.post("/v1/events", json=event)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json


def test_accepted_event_can_be_read_back(client, new_employee, make_share) -> None:
    event = make_share(new_employee())
    posted = client.post("/v1/events", json=event)
    assert client.get(f"/v1/events/{event['id']}").json == posted.json
    assert client.get("/v1/events/never-sent").status_code == 404


def test_same_id_other_content_is_a_conflict(client, new_employee, make_share) -> None:
    event = make_share(new_employee())
    client.post("/v1/events", json=event)
    response = client.post("/v1/events", json={**event, "data": {**event["data"], "network": "x"}})
    assert response.status_code == 409
    assert response.json["error"]["field"] == "id"


def test_unknown_employee_is_refused(client, make_share) -> None:
    response = client.post("/v1/events", json=make_share("nobody-" + uuid.uuid4().hex))
    assert response.status_code == 422
    assert response.json["error"] == {
        "code": "unknown_employee",
        "message": "unknown employee",
        "field": "employee_id",
    }


def test_inactive_employee_is_refused(client, new_employee, make_share) -> None:
    response = client.post("/v1/events", json=make_share(new_employee(active=False)))
    assert response.status_code == 422 and response.json["error"]["field"] == "employee_id"


def test_future_event_is_refused(client, new_employee, make_share) -> None:
    event = make_share(new_employee())
    event["occurred_at"] = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    response = client.post("/v1/events", json=event)
    assert response.status_code == 422 and response.json["error"]["field"] == "occurred_at"


def test_bad_field_is_named_by_its_path(client, new_employee, make_share) -> None:
    response = client.post("/v1/events", json=make_share(new_employee(), network="myspace"))
    assert response.status_code == 422
    assert response.json["error"]["field"] == "data.network"


def test_not_json_is_a_400(client) -> None:
    response = client.post("/v1/events", data=b"{nope", content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed"


def test_oversized_body_is_a_413(client, new_employee, make_share) -> None:
    event = make_share(new_employee(), tags=["x" * 60] * 20)
    event["source"] = "y" * 70_000
    response = client.post("/v1/events", json=event)
    assert response.status_code == 413


def test_points_adjusted_only_through_the_admin_path(client, new_employee, admin_headers) -> None:
    event = {
        "id": f"adj-{uuid.uuid4().hex}",
        "type": "points.adjusted",
        "occurred_at": datetime.now(UTC).isoformat(),
        "employee_id": new_employee(),
        "source": "admin",
        "data": {"points": -20, "reason": "duplicate post"},
    }
    public = client.post("/v1/events", json=event)
    assert public.status_code == 403 and public.json["error"]["field"] == "type"
    unknown = client.post("/v1/admin/events", json=event, headers={"Authorization": "Bearer no"})
    assert unknown.status_code == 401
    # The service token opens the service, not its admin door.
    assert client.post("/v1/admin/events", json=event).status_code == 403
    admitted = client.post("/v1/admin/events", json=event, headers=admin_headers)
    assert admitted.status_code == 201 and admitted.json["data"]["points"] == -20


def test_batch_answers_each_item(client, new_employee, make_share) -> None:
    employee = new_employee()
    stored = make_share(employee)
    client.post("/v1/events", json=stored)
    good = make_share(employee)
    items = [
        good,
        stored,
        {**stored, "data": {**stored["data"], "url": "https://example.org/other"}},
        make_share("nobody"),
        {"id": "x"},
        "not an object",
        good,
    ]
    response = client.post("/v1/events:batch", json={"events": items})
    assert response.status_code == 200
    statuses = [result["status"] for result in response.json["results"]]
    assert statuses == [201, 200, 409, 422, 422, 422, 200]
    assert response.json["results"][0]["event"]["id"] == good["id"]
    assert response.json["results"][3]["error"]["field"] == "employee_id"


def test_batch_of_500_new_events_gets_consecutive_sequences_in_batch_order(
    client, new_employee, make_share, store, publish_outbox
) -> None:
    employees = [new_employee() for _ in range(5)]
    items = [make_share(employees[i % 5]) for i in range(500)]
    response = client.post("/v1/events:batch", json={"events": items})
    assert [result["status"] for result in response.json["results"]] == [201] * 500
    publish_outbox()
    sequences = [store.find_stored_event(item["id"])["sequence"] for item in items]
    assert sequences == list(range(sequences[0], sequences[0] + 500))


def test_batch_over_500_is_refused(client) -> None:
    response = client.post("/v1/events:batch", json={"events": [{}] * 501})
    assert response.status_code == 422 and response.json["error"]["field"] == "events"


def test_survey_answer_stays_here_and_newer_replaces_older(
    client, new_employee, store, publish_outbox
) -> None:
    employee = new_employee()
    survey = "s-enps"  # in the catalogue of this test's own database

    def answer(value: int, when: str) -> dict:
        return {
            "id": f"sa-{uuid.uuid4().hex}",
            "type": "survey.answered",
            "occurred_at": when,
            "employee_id": employee,
            "source": "survey-tool",
            "data": {"survey_id": survey, "question_id": "q1", "kind": "enps", "value": value},
        }

    def days_ago(days: int) -> str:
        return (datetime.now(UTC) - timedelta(days=days)).isoformat()

    first = client.post("/v1/events", json=answer(3, days_ago(20)))
    assert first.status_code == 201 and "value" not in first.json["data"]
    client.post("/v1/events", json=answer(9, days_ago(5)))
    client.post("/v1/events", json=answer(1, days_ago(10)))  # older: ignored
    publish_outbox()  # the relay keeps the answers
    assert "value" not in store.find_stored_event(first.json["id"])["data"]
    answers = store.answers_of(survey)
    assert [(a["_id"], a["value"], a["team"]) for a in answers] == [
        (f"{survey}:q1:{employee}", 9, "growth")
    ]
