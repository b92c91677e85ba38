from datetime import UTC, datetime

import pytest

from cercle_common.envelope import (
    MAX_JSON_DEPTH,
    Envelope,
    decode_json_object,
    format_instant,
    parse_instant,
    parse_published,
)
from cercle_common.errors import MalformedRequest, ValidationError

VALID = {
    "id": "01JEXAMPLE",
    "type": "content.shared",
    "schema_version": 1,
    "occurred_at": "2026-11-26T09:30:00Z",
    "employee_id": "e-1042",
    "source": "web",
    "data": {"content_id": "c-77", "network": "linkedin"},
}


def test_envelope_round_trips_through_json_unchanged() -> None:
    envelope = Envelope.from_dict({**VALID, "sequence": 7})
    assert Envelope.from_json(envelope.to_json()) == envelope
    assert envelope.to_dict() == {**VALID, "sequence": 7}


def test_occurred_at_with_offset_is_stored_in_utc() -> None:
    envelope = Envelope.from_dict({**VALID, "occurred_at": "2026-11-26T10:30:00+01:00"})
    assert envelope.occurred_at == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": None}, "id"),
        ({"id": ""}, "id"),
        ({"id": "x" * 200}, "id"),
        ({"type": 3}, "type"),
        ({"employee_id": None}, "employee_id"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-26T09:30:00"}, "occurred_at"),
        ({"data": []}, "data"),
        ({"schema_version": 2}, "schema_version"),
        ({"source": 5}, "source"),
        ({"sequence": "7"}, "sequence"),
    ],
)
def test_bad_envelope_field_is_named_in_the_error(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Envelope.from_dict({**VALID, **change})
    assert raised.value.field == field


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"{not json", b"[1, 2]", b"null"])
def test_bytes_that_are_not_a_json_object_are_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedRequest):
        Envelope.from_json(raw)


def test_instants_format_with_a_z() -> None:
    instant = parse_instant("2026-01-01T00:00:00+02:00", "at")
    assert format_instant(instant) == "2025-12-31T22:00:00Z"


def test_a_published_event_must_carry_its_sequence() -> None:
    envelope, sequence = parse_published(Envelope.from_dict({**VALID, "sequence": 42}).to_json())
    assert (envelope.id, sequence) == (VALID["id"], 42)
    with pytest.raises(ValidationError) as raised:
        parse_published(Envelope.from_dict(VALID).to_json())
    assert raised.value.field == "sequence"
    with pytest.raises(ValidationError) as raised:
        parse_published(None)
    assert raised.value.field == "value"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 20_000 + b"]" * 20_000, "nested deeper"),
        (b'{"a":' * 20_000 + b"1" + b"}" * 20_000, "nested deeper"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper"),
        (b'{"data": {"text": "\\ud800"}}', "lone surrogate"),
        (b'{"\\udfff": 1}', "lone surrogate"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'{"a": ' + b"9" * 5000 + b"}", "more than 4300 digits"),
    ],
)
def test_json_that_would_fail_later_is_refused_as_malformed(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        decode_json_object(raw)
    assert reason in refused.value.message


def test_json_nested_as_deep_as_allowed_and_real_surrogate_pairs_pass() -> None:
    depth = MAX_JSON_DEPTH - 1
    nested = b'{"a":' * depth + b'"\\ud83d\\ude00"' + b"}" * depth
    value = decode_json_object(nested)
    for _ in range(depth - 1):
        value = value["a"]
    assert value["a"] == "\N{GRINNING FACE}"
