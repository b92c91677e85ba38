"""JSON Schemas of the events, generated from the same field specifications the
validators use (`docs/schemas/` holds them; a test checks they are up to date)."""

from __future__ import annotations

from typing import Any

from cercle_common.envelope import EMPLOYEE_ERASED, EMPLOYEE_UPSERTED, MAX_ID_LENGTH
from services.events.domain.directory import (
    COUNTRY,
    EMAIL,
    LOCALE,
    MAX_EMAIL,
    MAX_LABEL,
    MAX_NAME,
    MAX_PSEUDONYM,
    VISIBILITIES,
)
from services.events.domain.events import (
    ENPS_RANGE,
    EVENT_FIELDS,
    MAX_TAG,
    MAX_TAGS,
    PULSE_RANGE,
    Field,
)

DRAFT = "https://json-schema.org/draft/2020-12/schema"
NON_BLANK = r"\S"


def _identifier() -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": NON_BLANK}


def _field_schema(spec: Field) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.kind == "id":
        schema = _identifier()
    elif spec.kind == "text":
        schema = {"type": "string", "maxLength": spec.max_length, "pattern": NON_BLANK}
    elif spec.kind == "int":
        schema = {"type": "integer"}
        if spec.minimum is not None:
            schema["minimum"] = spec.minimum
        if spec.maximum is not None:
            schema["maximum"] = spec.maximum
    elif spec.kind == "enum":
        schema = {"type": "string", "enum": list(spec.choices)}
    elif spec.kind == "url":
        schema = {"type": "string", "maxLength": spec.max_length, "pattern": "^https?://."}
    elif spec.kind == "tags":
        schema = {
            "type": "array",
            "maxItems": MAX_TAGS,
            "items": {"type": "string", "maxLength": MAX_TAG, "pattern": NON_BLANK},
        }
    elif spec.kind == "answer":
        schema = {}
    else:  # pragma: no cover - every kind is listed above
        raise AssertionError(spec.kind)
    if spec.description:
        schema["description"] = spec.description
    return schema


def _property(spec: Field) -> dict[str, Any]:
    # An optional field may also be sent as null, which means absent.
    schema = _field_schema(spec)
    if spec.required:
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def _answer_rules() -> list[dict[str, Any]]:
    def when(kind: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {"properties": {"value": value}},
        }

    return [
        when("enps", {"type": "integer", "minimum": ENPS_RANGE[0], "maximum": ENPS_RANGE[1]}),
        when("pulse", {"type": "integer", "minimum": PULSE_RANGE[0], "maximum": PULSE_RANGE[1]}),
        when("text", {"type": "string", "maxLength": 2000, "pattern": NON_BLANK}),
    ]


def data_schema(event_type: str) -> dict[str, Any]:
    """The schema of `data` for one event type."""
    fields = EVENT_FIELDS[event_type]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: _property(spec) for name, spec in fields.items()},
        "required": [name for name, spec in fields.items() if spec.required],
        "additionalProperties": False,
    }
    if any(spec.kind == "answer" for spec in fields.values()):
        schema["allOf"] = _answer_rules()
    if event_type == "points.adjusted":
        schema["properties"]["points"]["not"] = {"const": 0}
    return schema


def directory_data_schema() -> dict[str, Any]:
    """The schema of an `employee.upserted` event's data (= the PUT body)."""

    def label(limit: int) -> dict[str, Any]:
        return {"type": ["string", "null"], "maxLength": limit, "pattern": NON_BLANK}

    return {
        "type": "object",
        "properties": {
            "display_name": {"type": "string", "maxLength": MAX_NAME, "pattern": NON_BLANK},
            "email": {"type": "string", "maxLength": MAX_EMAIL, "pattern": EMAIL.pattern},
            "team": label(MAX_LABEL),
            "department": label(MAX_LABEL),
            "site": label(MAX_LABEL),
            "country": {"type": ["string", "null"], "pattern": COUNTRY.pattern},
            "locale": {"type": ["string", "null"], "maxLength": 35, "pattern": LOCALE.pattern},
            "fte": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "visibility": {"enum": list(VISIBILITIES)},
            "pseudonym": label(MAX_PSEUDONYM),
            "active": {"type": "boolean"},
        },
        "required": ["display_name", "email"],
        "additionalProperties": False,
        "if": {"properties": {"visibility": {"const": "pseudonym"}}, "required": ["visibility"]},
        "then": {"properties": {"pseudonym": {"type": "string"}}, "required": ["pseudonym"]},
    }


def event_schema(event_type: str) -> dict[str, Any]:
    """The whole envelope as a producer sends it, for one event type."""
    if event_type == EMPLOYEE_UPSERTED:
        data = directory_data_schema()
    elif event_type == EMPLOYEE_ERASED:
        data = {"type": "object", "maxProperties": 0}
    else:
        data = data_schema(event_type)
    return {
        "$schema": DRAFT,
        "$id": f"{event_type}.json",
        "title": event_type,
        "description": f"A `{event_type}` event (schema_version 1) as sent to the events "
        "service (POST /v1/events or the tool's cercle.inbound.<tool>.v1). `sequence` and "
        "`accepted_at` are added by the service.",
        "type": "object",
        "properties": {
            "id": {**_identifier(), "description": "Chosen by the producer: the idempotency key."},
            "type": {"const": event_type},
            "schema_version": {"const": 1},
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "description": "ISO 8601 with an offset; at most 5 minutes in the future.",
            },
            "employee_id": {
                **_identifier(),
                "description": "An active employee of the directory.",
            },
            "source": {"type": ["string", "null"]},
            "data": data,
        },
        "required": ["id", "type", "occurred_at", "employee_id", "data"],
        "additionalProperties": False,
    }


def all_event_types() -> list[str]:
    """Every type with a published schema."""
    return [*EVENT_FIELDS, EMPLOYEE_UPSERTED, EMPLOYEE_ERASED]
