"""The event envelope every Cercle event travels in (see the design contract).

The events service validates the type-specific `data`; this module checks the shape
every consumer relies on, and turns envelopes to and from JSON bytes."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cercle_common.errors import MalformedRequest, ValidationError

CONTENT_SHARED = "content.shared"
SHARE_ENGAGED = "share.engaged"
SHARE_DELETED = "share.deleted"
COURSE_COMPLETED = "course.completed"
SURVEY_ANSWERED = "survey.answered"
CHARTER_ACKNOWLEDGED = "charter.acknowledged"
POINTS_ADJUSTED = "points.adjusted"
EMPLOYEE_UPSERTED = "employee.upserted"
EMPLOYEE_ERASED = "employee.erased"

ACTION_TYPES = frozenset(
    {
        CONTENT_SHARED,
        SHARE_ENGAGED,
        SHARE_DELETED,
        COURSE_COMPLETED,
        SURVEY_ANSWERED,
        CHARTER_ACKNOWLEDGED,
        POINTS_ADJUSTED,
    }
)
DIRECTORY_TYPES = frozenset({EMPLOYEE_UPSERTED, EMPLOYEE_ERASED})

MAX_ID_LENGTH = 128


@dataclass(frozen=True)
class Envelope:
    """One event. `sequence` and `accepted_at` are set by the events service when it
    accepts the event: the sequence is the order every order-dependent rule follows."""

    id: str
    type: str
    occurred_at: datetime
    employee_id: str
    data: dict[str, Any]
    source: str = "unknown"
    schema_version: int = 1
    sequence: int | None = None
    accepted_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, timestamps as ISO 8601 UTC with a `Z`."""
        body = asdict(self)
        body["occurred_at"] = format_instant(self.occurred_at)
        if self.accepted_at is None:
            body.pop("accepted_at")
        else:
            body["accepted_at"] = format_instant(self.accepted_at)
        if self.sequence is None:
            body.pop("sequence")
        return body

    def to_json(self) -> bytes:
        """UTF-8 JSON bytes, as published on Kafka."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Envelope:
        """Parse Kafka message bytes; raises `MalformedRequest` or `ValidationError`."""
        return cls.from_dict(decode_json_object(raw))

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Envelope:
        """Check the envelope's own fields (not the type-specific `data`)."""
        return cls(
            id=_identifier(body, "id"),
            type=required_string(body, "type"),
            occurred_at=parse_instant(body.get("occurred_at"), "occurred_at"),
            employee_id=_identifier(body, "employee_id"),
            data=_object(body, "data"),
            source=optional_string(body, "source") or "unknown",
            schema_version=_schema_version(body),
            sequence=optional_int(body, "sequence"),
            accepted_at=(
                parse_instant(body["accepted_at"], "accepted_at")
                if body.get("accepted_at") is not None
                else None
            ),
        )


def parse_published(raw: bytes | None) -> tuple[Envelope, int]:
    """An event read from `cercle.events.v1`: a valid envelope and the sequence the events
    service gave it (every order-dependent rule follows it)."""
    if raw is None:
        raise ValidationError("an event message needs a value", "value")
    envelope = Envelope.from_json(raw)
    if envelope.sequence is None:
        raise ValidationError(
            "is required on cercle.events.v1 (set by the events service)", "sequence"
        )
    return envelope, envelope.sequence


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """Decode UTF-8 JSON that must be an object, nested at most `MAX_JSON_DEPTH` deep and
    holding only text that UTF-8 can carry on (no lone surrogate such as `\\ud800`)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise MalformedRequest(f"not UTF-8: {error.reason} at byte {error.start}") from error
    except json.JSONDecodeError as error:
        raise MalformedRequest(f"not JSON: {error.msg} at line {error.lineno}") from error
    except RecursionError as error:
        raise MalformedRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from error
    except ValueError as error:
        # The one other refusal of `json.loads`: Python will not convert an integer of
        # more digits (that would cost quadratic time), and no field of Cercle's holds one.
        raise MalformedRequest(
            f"a number has more than {sys.get_int_max_str_digits()} digits"
        ) from error
    if not isinstance(body, dict):
        raise MalformedRequest("expected a JSON object")
    check_json_value(body)
    return body


# Far below Python's recursion limit, far above what any Cercle message needs.
MAX_JSON_DEPTH = 32


def check_json_value(value: Any) -> None:
    """Refuse decoded JSON nested deeper than `MAX_JSON_DEPTH`, or holding a lone
    surrogate (valid in JSON escapes, not encodable in UTF-8: it would fail later, on
    the way to the database or the broker). Iterative: depth costs no recursion."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise MalformedRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise MalformedRequest(
            f"text holds a lone surrogate (U+{ord(text[error.start]):04X}): not valid Unicode"
        ) from error


def parse_instant(value: Any, field_name: str) -> datetime:
    """An ISO 8601 timestamp with an explicit offset, returned in UTC. Anything else,
    including an instant with no UTC equivalent, is a `ValidationError` naming the field."""
    if not isinstance(value, str):
        raise ValidationError("must be an ISO 8601 timestamp string", field_name)
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise ValidationError(f"not an ISO 8601 timestamp: {value[:64]!r}", field_name) from error
    if instant.tzinfo is None:
        raise ValidationError("timestamp needs a time zone (e.g. a trailing Z)", field_name)
    try:
        # Year 1 with a positive offset (or year 9999 with a negative one) has no UTC
        # instant: Python raises OverflowError, which is bad input, not a crash.
        return instant.astimezone(UTC)
    except (OverflowError, ValueError) as error:
        raise ValidationError("is out of the representable range of dates", field_name) from error


def format_instant(instant: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the microsecond when there is one."""
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def required_string(body: Mapping[str, Any], name: str) -> str:
    """`body[name]` as a non-empty string, or a `ValidationError` naming the field."""
    value = body.get(name)
    if value is None:
        raise ValidationError("is required", name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be a non-empty string", name)
    return value


def _identifier(body: Mapping[str, Any], name: str) -> str:
    value = required_string(body, name)
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"must be at most {MAX_ID_LENGTH} characters", name)
    return value


def optional_string(body: Mapping[str, Any], name: str) -> str | None:
    """`body[name]` as a string, or None when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("must be a string", name)
    return value


def optional_int(body: Mapping[str, Any], name: str) -> int | None:
    """`body[name]` as an integer (not a boolean), or None when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("must be an integer", name)
    return value


def required_int(body: Mapping[str, Any], name: str) -> int:
    """`body[name]` as an integer, or a `ValidationError` naming the field."""
    value = optional_int(body, name)
    if value is None:
        raise ValidationError("is required", name)
    return value


def _object(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        raise ValidationError("is required", name)
    if not isinstance(value, dict):
        raise ValidationError("must be an object", name)
    return value


def _schema_version(body: Mapping[str, Any]) -> int:
    version = body.get("schema_version", 1)
    if version != 1 or isinstance(version, bool):
        raise ValidationError("only schema_version 1 is supported", "schema_version")
    return 1
