"""`occurred_at`: an instant without a UTC equivalent or older than the maximum age is a
4xx naming the field on every door, never a 500, and never costs its valid siblings."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import mongoengine
import pytest

from cercle_common.errors import ValidationError
from cercle_common.messaging import Record, is_infrastructure_failure
from cercle_common.topics import INBOUND_TOPICS
from services.events.adapters.event_store import ALIAS
from services.events.entrypoints.app import create_app
from services.events.entrypoints.consumer import InboundHandler
from services.events.handlers import Directory, Ingestion

YEAR_ONE_IN_PARIS = "0001-01-01T00:30:00+01:00"


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def test_a_year_one_instant_with_an_offset_is_a_422_naming_occurred_at(
    client, new_employee, make_share
) -> None:
    event = {**make_share(new_employee()), "occurred_at": YEAR_ONE_IN_PARIS}
    response = client.post("/v1/events", json=event)
    assert response.status_code == 422
    assert response.json["error"]["field"] == "occurred_at"


def test_bad_instants_in_a_batch_do_not_cost_their_valid_siblings(
    client, new_employee, make_share
) -> None:
    employee = new_employee()
    items = [
        make_share(employee),
        {**make_share(employee), "occurred_at": YEAR_ONE_IN_PARIS},
        {**make_share(employee), "occurred_at": "9999-12-31T23:59:59-05:00"},
        {**make_share(employee), "occurred_at": _days_ago(31)},  # back-dated
        make_share(employee),
    ]
    response = client.post("/v1/events:batch", json={"events": items})
    assert response.status_code == 200
    results = response.json["results"]
    assert [result["status"] for result in results] == [201, 422, 422, 422, 201]
    assert {results[i]["error"]["field"] for i in (1, 2, 3)} == {"occurred_at"}
    assert "30 days in the past" in results[3]["error"]["message"]


def test_an_event_older_than_the_maximum_age_is_refused(client, new_employee, make_share):
    employee = new_employee()
    recent = {**make_share(employee), "occurred_at": _days_ago(29)}
    assert client.post("/v1/events", json=recent).status_code == 201
    old = client.post("/v1/events", json={**make_share(employee), "occurred_at": _days_ago(31)})
    assert old.status_code == 422 and old.json["error"]["field"] == "occurred_at"


def test_the_maximum_age_is_a_setting(settings) -> None:
    app = create_app(dataclasses.replace(settings, event_max_age_days=90))
    try:
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {settings.service_token}"
        employee = "emp-ninety-days"
        body = {"display_name": "Al", "email": "al@example.org"}
        admin = {"Authorization": f"Bearer {settings.admin_token}"}
        assert client.put(f"/v1/employees/{employee}", json=body, headers=admin).status_code == 201

        def charter_signed(days_ago: int) -> dict:
            return {
                "id": f"ch-{days_ago}",
                "type": "charter.acknowledged",
                "occurred_at": _days_ago(days_ago),
                "employee_id": employee,
                "source": "gateway",
                "data": {"charter_id": "social-media", "version": "2026"},
            }

        accepted = client.post("/v1/events", json=charter_signed(60))
        assert accepted.status_code == 201, accepted.json
        assert client.post("/v1/events", json=charter_signed(91)).status_code == 422
    finally:
        store = app.extensions["cercle_events.ingestion"].store
        store.db.client.drop_database(settings.database_name("events"))
        mongoengine.disconnect(alias=ALIAS)


@pytest.mark.parametrize("occurred_at", [YEAR_ONE_IN_PARIS, "0001-01-01T00:00:00Z", "old"])
def test_a_bad_instant_on_the_inbound_topic_is_a_dead_letter(
    store, new_employee, make_share, occurred_at: str
) -> None:
    when = _days_ago(400) if occurred_at == "old" else occurred_at
    event = {**make_share(new_employee()), "occurred_at": when}
    handler = InboundHandler(Ingestion(store), Directory(store))
    with pytest.raises(ValidationError) as caught:
        handler(Record(INBOUND_TOPICS["social-tracker"], 0, 0, None, json.dumps(event).encode()))
    assert caught.value.field == "occurred_at"
    assert not is_infrastructure_failure(caught.value)
