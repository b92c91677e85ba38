"""docs/schemas and docs/asyncapi.yaml agree with the code's validators."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from cercle_common.errors import CercleError
from cercle_common.topics import DEADLETTER, EMPLOYEES, EVENTS, INBOUND_TOPICS
from services.events.domain.directory import parse_record
from services.events.domain.events import (
    EVENT_FIELDS,
    check_envelope_fields,
    check_type_allowed,
    validate_data,
)
from services.events.domain.schemas import all_event_types, event_schema
from services.events.domain.trust import KAFKA, TRUSTED_SOURCES
from services.events.entrypoints.schemas import render

DOCS = pathlib.Path(__file__).resolve().parents[3] / "docs"


def test_every_schema_file_is_what_the_code_generates() -> None:
    for event_type in all_event_types():
        path = DOCS / "schemas" / f"{event_type}.json"
        assert path.read_text(encoding="utf-8") == render(event_type), (
            f"{path.name} is stale: run python -m services.events.entrypoints.schemas"
        )


def test_asyncapi_describes_every_topic_and_inbound_type() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {*INBOUND_TOPICS.values(), EVENTS, EMPLOYEES, DEADLETTER}
    by_address = {channel["address"]: channel for channel in document["channels"].values()}
    inbound_types: set[str] = set()
    for tool, topic in INBOUND_TOPICS.items():
        # Each tool's topic offers what the trust table lets that tool send on Kafka.
        offered = set(by_address[topic]["messages"])
        assert offered == TRUSTED_SOURCES[tool][KAFKA], topic
        inbound_types |= offered
    # points.adjusted is admin-only: it must NOT be offered on any inbound topic.
    assert "points.adjusted" not in inbound_types
    for name in inbound_types:
        ref = document["components"]["messages"][name]["payload"]["$ref"]
        assert (DOCS / ref).resolve() == (DOCS / "schemas" / f"{name}.json").resolve()
    for schema_file in (DOCS / "schemas").glob("*.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(schema_file.read_text()))


def _code_accepts(body: dict[str, Any]) -> bool:
    from cercle_common.envelope import Envelope

    try:
        check_envelope_fields(body)
        envelope = Envelope.from_dict(body)
        if envelope.type in ("employee.upserted", "employee.erased"):
            if envelope.type == "employee.upserted":
                parse_record(envelope.data)
            elif envelope.data:
                return False
            return True
        check_type_allowed(envelope.type, admin=True)
        validate_data(envelope.type, envelope.data)
    except CercleError:
        return False
    return True


def _schema_accepts(body: dict[str, Any]) -> bool:
    schema = event_schema(body["type"]) if body.get("type") in all_event_types() else None
    if schema is None:
        return False
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(body)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=120),
    st.sampled_from(
        [
            "",
            " ",
            "x",
            "linkedin",
            "enps",
            "pulse",
            "text",
            "https://a.b/c",
            "ftp://a",
            "a@b.co",
            "FR",
            "fr-FR",
            "visible",
            "pseudonym",
            "1" * 130,
        ]
    ),
    st.floats(min_value=-1, max_value=2, allow_nan=False),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))


@st.composite
def event_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Near-valid envelopes: each data field valid or replaced by a random value."""
    event_type = draw(st.sampled_from(all_event_types()))
    names = list(EVENT_FIELDS.get(event_type, {})) or [
        "display_name",
        "email",
        "team",
        "fte",
        "visibility",
        "pseudonym",
        "country",
        "active",
    ]
    good = {
        "content_id": "c",
        "network": "x",
        "url": "https://a.b/c",
        "tags": ["t"],
        "share_event_id": "s",
        "clicks": 1,
        "reactions": 0,
        "comments": 0,
        "reshares": 2,
        "course_id": "k",
        "track": "ai",
        "score": 80,
        "duration_minutes": 5,
        "survey_id": "s",
        "question_id": "q",
        "kind": "enps",
        "value": 7,
        "charter_id": "ch",
        "version": "v2",
        "points": 5,
        "reason": "fix",
        "display_name": "Ann",
        "email": "a@b.co",
        "team": "t",
        "fte": 0.5,
        "visibility": "visible",
        "pseudonym": "A",
        "country": "FR",
        "active": True,
    }
    data: dict[str, Any] = {}
    for name in names:
        choice = draw(st.sampled_from(["good", "good", "random", "absent"]))
        if choice == "good":
            data[name] = good[name]
        elif choice == "random":
            data[name] = draw(values)
    if event_type == "employee.erased":
        data = draw(st.sampled_from([{}, {"x": 1}]))
    body: dict[str, Any] = {
        "id": draw(st.sampled_from(["e-1", "", 5])),
        "type": event_type,
        "occurred_at": draw(st.sampled_from(["2026-11-26T09:30:00Z", "2026-11-26T09:30:00+01:00"])),
        "employee_id": "emp-1",
        "source": "web",
        "data": data,
    }
    if draw(st.booleans()) and draw(st.booleans()):
        body["extra_field"] = 1
    return body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_bodies())
def test_schema_and_validators_agree_on_random_payloads(body: dict[str, Any]) -> None:
    assert _code_accepts(body) == _schema_accepts(body), json.dumps(body)


def test_random_payloads_include_valid_and_invalid_ones() -> None:
    assert _code_accepts(find(event_bodies(), _code_accepts))
    assert not _code_accepts(find(event_bodies(), lambda body: not _code_accepts(body)))
