"""Property: whatever malformed payload arrives, HTTP answers a 4xx naming the problem (never
a 500) and the inbound handler refuses it as bad data (a dead letter), not as an outage."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cercle_common.errors import CercleError
from cercle_common.messaging import Record, is_infrastructure_failure
from cercle_common.topics import INBOUND_TOPICS
from services.events.entrypoints.consumer import InboundHandler
from services.events.handlers import Directory, Ingestion

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
ENVELOPE_KEYS = ["id", "type", "schema_version", "occurred_at", "employee_id", "source", "data"]
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _assert_error_body(response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.json)
    error = response.json["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]


@PROPERTY
@given(body=json_values)
def test_any_json_that_is_not_an_event_gets_a_4xx(client, body: Any) -> None:
    _assert_error_body(client.post("/v1/events", json=body))


@PROPERTY
@given(raw=st.binary(max_size=200))
def test_any_bytes_get_a_4xx(client, raw: bytes) -> None:
    _assert_error_body(client.post("/v1/events", data=raw, content_type="application/json"))


@pytest.fixture
def valid_event(new_employee, make_share) -> dict[str, Any]:
    return make_share(new_employee())


@PROPERTY
@given(
    key=st.sampled_from([*ENVELOPE_KEYS, "data.url", "data.network", "data.tags"]),
    value=json_values,
)
def test_an_envelope_with_one_field_broken_is_never_a_500(
    client, valid_event, key: str, value: Any
) -> None:
    body = json.loads(json.dumps(valid_event))
    body["id"] = body["id"] + json.dumps(value)[:40]
    if key.startswith("data."):
        body["data"][key[5:]] = value
    else:
        body[key] = value
    response = client.post("/v1/events", json=body)
    if response.status_code in (200, 201):
        return  # the random value happened to be valid
    _assert_error_body(response)


@PROPERTY
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_malformed_inbound_message_is_refused_as_bad_data(store, raw: bytes) -> None:
    handler = InboundHandler(Ingestion(store), Directory(store))
    with pytest.raises(CercleError) as caught:
        handler(Record(INBOUND_TOPICS["social-tracker"], 0, 0, None, raw))
    assert not is_infrastructure_failure(caught.value)


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
extreme_instants = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 3)),
    st.datetimes(min_value=datetime(9999, 12, 30), max_value=datetime(9999, 12, 31, 23, 59)),
    st.datetimes(),
).flatmap(lambda naive: offsets.map(lambda zone: naive.replace(tzinfo=zone).isoformat()))


@PROPERTY
@given(occurred_at=extreme_instants)
def test_any_occurred_at_in_any_offset_is_never_a_500(
    client, store, valid_event, occurred_at: str
) -> None:
    body = {**valid_event, "id": f"{valid_event['id']}-{occurred_at}", "occurred_at": occurred_at}
    single = client.post("/v1/events", json=body)
    batch = client.post("/v1/events:batch", json={"events": [body]})
    handler = InboundHandler(Ingestion(store), Directory(store))
    if single.status_code in (200, 201):
        assert batch.json["results"][0]["status"] == 200
        return  # a recent instant: valid
    _assert_error_body(single)
    assert single.json["error"]["field"] == "occurred_at"
    assert batch.status_code == 200 and batch.json["results"][0]["status"] == 422
    with pytest.raises(CercleError) as caught:
        handler(Record(INBOUND_TOPICS["social-tracker"], 0, 0, None, json.dumps(body).encode()))
    assert caught.value.field == "occurred_at"
