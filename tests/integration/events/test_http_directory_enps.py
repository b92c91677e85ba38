"""Employee directory and eNPS over HTTP against the real database."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from cercle_common.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These answers are dated in fixed months: accept dates older than the default age."""
    return dataclasses.replace(settings, event_max_age_days=3650)


PERSON = {
    "display_name": "Ann Lee",
    "email": "ann@example.org",
    "team": "growth",
    "department": "marketing",
    "site": "paris",
    "country": "FR",
    "locale": "fr-FR",
    "fte": 0.8,
    "visibility": "pseudonym",
    "pseudonym": "Comet",
    "active": True,
}


def test_put_creates_then_replaces(client, store, admin_headers) -> None:
    employee = f"emp-{uuid.uuid4().hex[:10]}"
    created = client.put(f"/v1/employees/{employee}", json=PERSON, headers=admin_headers)
    assert created.status_code == 201 and created.json["version"] == 1
    replaced = client.put(
        f"/v1/employees/{employee}", json={**PERSON, "team": "sales"}, headers=admin_headers
    )
    assert replaced.status_code == 200 and replaced.json["team"] == "sales"
    unchanged = client.put(
        f"/v1/employees/{employee}", json={**PERSON, "team": "sales"}, headers=admin_headers
    )
    assert unchanged.json["version"] == 2  # nothing changed, nothing new to publish
    changes = store.pending_employee_changes(100)
    assert [(c["employee_id"], c["version"]) for c in changes] == [(employee, 1), (employee, 2)]
    assert "email" not in changes[0]["snapshot"]


def test_put_names_the_bad_field(client, admin_headers) -> None:
    response = client.put(
        "/v1/employees/e-x", json={**PERSON, "visibility": "public"}, headers=admin_headers
    )
    assert response.status_code == 422 and response.json["error"]["field"] == "visibility"


def test_get_many_leaves_out_unknown_ids(client, new_employee) -> None:
    first, second = new_employee(), new_employee(visibility="hidden")
    response = client.get(f"/v1/employees?ids={first},nobody,{second}")
    assert response.status_code == 200
    found = response.json["employees"]
    assert [e["id"] for e in found] == [first, second]
    assert set(found[0]) == {
        "id",
        "display_name",
        "pseudonym",
        "visibility",
        "team",
        "department",
        "site",
        "country",
        "locale",
        "fte",
        "active",
    }
    assert found[1]["visibility"] == "hidden"


def test_delete_erases_personal_data_and_queues_a_tombstone(
    client, new_employee, store, make_share, admin_headers
) -> None:
    employee = new_employee()
    response = client.delete(f"/v1/employees/{employee}", headers=admin_headers)
    assert response.status_code == 200 and response.json == {"id": employee, "erased": True}
    stored = store.find_employee(employee)
    assert stored["display_name"] is None and stored["email"] is None and stored["erased"]
    assert client.get(f"/v1/employees/{employee}").status_code == 404
    assert client.get(f"/v1/employees?ids={employee}").json == {"employees": []}
    latest = store.pending_employee_changes(100)[-1]
    assert latest["employee_id"] == employee and latest["snapshot"] is None
    refused = client.post("/v1/events", json=make_share(employee))
    assert refused.status_code == 422 and refused.json["error"]["field"] == "employee_id"
    assert (
        client.delete(f"/v1/employees/{employee}", headers=admin_headers).status_code == 200
    )  # idempotent
    assert client.delete("/v1/employees/never-existed", headers=admin_headers).status_code == 404


def _answers(client, survey: str, scores: list[int], team: str, when: str, new_employee):
    for score in scores:
        employee = new_employee(team=team)
        response = client.post(
            "/v1/events",
            json={
                "id": f"sa-{uuid.uuid4().hex}",
                "type": "survey.answered",
                "occurred_at": when,
                "employee_id": employee,
                "source": "survey-tool",
                "data": {
                    "survey_id": survey,
                    "question_id": "enps",
                    "kind": "enps",
                    "value": score,
                },
            },
        )
        assert response.status_code == 201


def test_enps_per_team_and_month_with_anonymity_threshold(
    client, new_employee, publish_outbox
) -> None:
    survey = "s-enps"  # in the catalogue of this test's own database
    _answers(client, survey, [10, 9, 8, 6, 2], "growth", "2026-10-10T10:00:00Z", new_employee)
    _answers(client, survey, [10, 10, 9, 7, 0], "sales", "2026-10-11T10:00:00Z", new_employee)
    _answers(client, survey, [9], "ops", "2026-10-12T10:00:00Z", new_employee)
    _answers(client, survey, [0], "growth", "2026-11-02T10:00:00Z", new_employee)
    publish_outbox()  # the relay keeps the answers

    # October's organisation minus growth minus sales would be ops' one answer: one of
    # the two teams is withdrawn for October (growth, the tie going by name).
    growth_october = client.get(
        f"/v1/surveys/{survey}/enps?team=growth&from=2026-10-01&to=2026-11-01"
    ).json
    assert growth_october["enough_answers"] is False and "n" not in growth_october
    sales_october = client.get(
        f"/v1/surveys/{survey}/enps?team=sales&from=2026-10-01&to=2026-11-01"
    )
    assert sales_october.status_code == 200
    assert sales_october.json == {
        "survey_id": survey,
        "team": "sales",
        "site": None,
        "from": "2026-10-01",
        "to": "2026-11-01",
        "min_group": 5,
        "enough_answers": True,
        "n": 5,
        "promoters": 60.0,
        "passives": 20.0,
        "detractors": 20.0,
        "enps": 40.0,
    }
    ops = client.get(f"/v1/surveys/{survey}/enps?team=ops").json
    assert ops["enough_answers"] is False and "n" not in ops and "enps" not in ops
    october = client.get(f"/v1/surveys/{survey}/enps?from=2026-10-01&to=2026-11-01").json
    assert (october["n"], october["enps"]) == (11, 27.3)  # 6 promoters, 3 detractors
    # All time minus October would expose November's single answer: no figures.
    everyone = client.get(f"/v1/surveys/{survey}/enps").json
    assert everyone["enough_answers"] is False and "n" not in everyone


def test_enps_window_must_be_whole_months(client) -> None:
    response = client.get("/v1/surveys/s/enps?from=2026-10-15")
    assert response.status_code == 422 and response.json["error"]["field"] == "from"
    response = client.get("/v1/surveys/s/enps?from=2026-10-01&to=2026-10-01")
    assert response.status_code == 422 and response.json["error"]["field"] == "to"


def test_erasure_drops_the_employees_survey_answers(
    client, new_employee, store, publish_outbox, admin_headers
) -> None:
    survey = "s-enps"  # in the catalogue of this test's own database
    _answers(client, survey, [9], "growth", "2026-10-10T10:00:00Z", new_employee)
    publish_outbox()
    [answer] = store.answers_of(survey)
    assert answer["value"] == 9

    assert (
        client.delete(f"/v1/employees/{answer['employee_id']}", headers=admin_headers).status_code
        == 200
    )
    assert store.answers_of(survey) == []
