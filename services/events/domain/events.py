"""What each event type must carry, as data: the validators and the published JSON Schemas
are both derived from these specifications, so they cannot drift apart."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cercle_common.envelope import (
    CHARTER_ACKNOWLEDGED,
    CONTENT_SHARED,
    COURSE_COMPLETED,
    EMPLOYEE_ERASED,
    EMPLOYEE_UPSERTED,
    POINTS_ADJUSTED,
    SHARE_DELETED,
    SHARE_ENGAGED,
    SURVEY_ANSWERED,
    Envelope,
    format_instant,
)
from cercle_common.errors import Forbidden, ValidationError

MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_EVENT_BYTES = 64 * 1024
MAX_ID = 128
MAX_COUNT = 1_000_000_000

NETWORKS = ("linkedin", "x", "facebook", "xing", "instagram", "other")
SURVEY_KINDS = ("enps", "pulse", "text")
ENPS_RANGE = (0, 10)
PULSE_RANGE = (1, 5)
MAX_TEXT_ANSWER = 2000

# Envelope fields a producer may send; `sequence` and `accepted_at` are ours to set.
ENVELOPE_FIELDS = frozenset(
    {"id", "type", "schema_version", "occurred_at", "employee_id", "source", "data"}
)
SERVICE_FIELDS = frozenset({"sequence", "accepted_at"})


@dataclass(frozen=True)
class Field:
    """One field of an event's `data`. `kind` is one of: id, text, int, enum, url, tags,
    answer (the survey answer, whose range depends on the answer's kind)."""

    kind: str
    required: bool = True
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    max_length: int = 256
    description: str = ""


EVENT_FIELDS: dict[str, dict[str, Field]] = {
    CONTENT_SHARED: {
        "content_id": Field("id", description="The company content that was shared."),
        "network": Field("enum", choices=NETWORKS),
        "url": Field("url", max_length=2048, description="The public post."),
        "tags": Field("tags", required=False, description="Campaign tags."),
    },
    SHARE_ENGAGED: {
        "share_event_id": Field("id", description="The id of the content.shared event."),
        "clicks": Field("int", minimum=0, maximum=MAX_COUNT),
        "reactions": Field("int", minimum=0, maximum=MAX_COUNT),
        "comments": Field("int", minimum=0, maximum=MAX_COUNT),
        "reshares": Field("int", minimum=0, maximum=MAX_COUNT),
    },
    SHARE_DELETED: {
        "share_event_id": Field("id", description="The id of the content.shared event."),
    },
    COURSE_COMPLETED: {
        "course_id": Field("id"),
        "track": Field("text", max_length=64),
        "score": Field("int", minimum=0, maximum=100),
        "duration_minutes": Field("int", minimum=0, maximum=100_000),
    },
    SURVEY_ANSWERED: {
        "survey_id": Field("id"),
        "question_id": Field("id"),
        "kind": Field("enum", choices=SURVEY_KINDS),
        "value": Field(
            "answer",
            max_length=MAX_TEXT_ANSWER,
            description="enps: integer 0-10; pulse: integer 1-5; text: free text. "
            "Kept by the events service, never published.",
        ),
    },
    CHARTER_ACKNOWLEDGED: {
        "charter_id": Field("id"),
        "version": Field("text", max_length=32),
    },
    POINTS_ADJUSTED: {
        "points": Field("int", minimum=-100_000, maximum=100_000, description="Not zero."),
        "reason": Field("text", max_length=500),
    },
}

# Fields of a survey answer that stay in the events service.
PRIVATE_FIELDS: dict[str, frozenset[str]] = {SURVEY_ANSWERED: frozenset({"value"})}
ADMIN_ONLY_TYPES = frozenset({POINTS_ADJUSTED})
DIRECTORY_EVENT_TYPES = frozenset({EMPLOYEE_UPSERTED, EMPLOYEE_ERASED})


def check_envelope_fields(body: dict[str, Any]) -> None:
    """Refuse fields the envelope does not define, and those only the service sets."""
    for name in sorted(body):
        if name in SERVICE_FIELDS:
            raise ValidationError("is set by the events service, do not send it", name)
        if name not in ENVELOPE_FIELDS:
            raise ValidationError("is not an envelope field", name)


def check_type_allowed(event_type: str, *, admin: bool) -> None:
    """Unknown types are invalid; `points.adjusted` only comes through the admin door."""
    if event_type in DIRECTORY_EVENT_TYPES:
        raise ValidationError(
            "directory changes go through /v1/employees (or the inbound topic)", "type"
        )
    if event_type not in EVENT_FIELDS:
        raise ValidationError(f"unknown event type {event_type!r}", "type")
    if event_type in ADMIN_ONLY_TYPES and not admin:
        raise Forbidden(f"{event_type} is accepted from the admin path only", "type")


def validate_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Check `data` against its type's fields; returns it with only the known fields.
    Raises `ValidationError` naming the field as `data.<name>`."""
    fields = EVENT_FIELDS[event_type]
    for name in sorted(data):
        if name not in fields:
            raise ValidationError("is not a field of this event type", f"data.{name}")
    clean: dict[str, Any] = {}
    for name, spec in fields.items():
        path = f"data.{name}"
        if data.get(name) is None:
            if spec.required:
                raise ValidationError("is required", path)
            continue
        if spec.kind == "answer":
            clean[name] = _answer(data.get("kind"), data[name], spec, path)
        else:
            clean[name] = check_field(spec, data[name], path)
    if event_type == POINTS_ADJUSTED and clean["points"] == 0:
        raise ValidationError("must not be zero", "data.points")
    return clean


def check_field(spec: Field, value: Any, path: str) -> Any:
    """One value against its field specification (not `answer`)."""
    if spec.kind in ("id", "text"):
        return _text(value, path, MAX_ID if spec.kind == "id" else spec.max_length)
    if spec.kind == "int":
        return _integer(value, path, spec.minimum, spec.maximum)
    if spec.kind == "enum":
        if not isinstance(value, str) or value not in spec.choices:
            raise ValidationError(f"must be one of {', '.join(spec.choices)}", path)
        return value
    if spec.kind == "url":
        text = _text(value, path, spec.max_length)
        if not text.startswith(("https://", "http://")) or len(text.split("//", 1)[1]) < 1:
            raise ValidationError("must be an http(s) URL", path)
        return text
    if spec.kind == "tags":
        if not isinstance(value, list) or len(value) > MAX_TAGS:
            raise ValidationError(f"must be a list of at most {MAX_TAGS} tags", path)
        return [_text(tag, f"{path}.{index}", MAX_TAG) for index, tag in enumerate(value)]
    raise AssertionError(f"unknown field kind {spec.kind}")


MAX_TAGS = 20
MAX_TAG = 64


def _answer(kind: Any, value: Any, spec: Field, path: str) -> Any:
    if kind == "enps":
        return _integer(value, path, *ENPS_RANGE)
    if kind == "pulse":
        return _integer(value, path, *PULSE_RANGE)
    if kind == "text":
        return _text(value, path, spec.max_length)
    # The kind's own error is reported first; this only happens when it was valid.
    raise ValidationError("depends on a valid data.kind", path)


def _text(value: Any, path: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be a non-empty string", path)
    if len(value) > max_length:
        raise ValidationError(f"must be at most {max_length} characters", path)
    return value


def _integer(value: Any, path: str, minimum: int | None, maximum: int | None) -> int:
    # JSON has one number type: 80.0 is the integer 80 (as JSON Schema says), 80.5 is not.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("must be an integer", path)
    number: int = value
    if minimum is not None and number < minimum:
        raise ValidationError(f"must be at least {minimum}", path)
    if maximum is not None and number > maximum:
        raise ValidationError(f"must be at most {maximum}", path)
    return number


def check_not_in_future(occurred_at: datetime, now: datetime) -> None:
    """An event may be a little ahead of our clock, not more than the allowed skew."""
    if occurred_at > now + MAX_FUTURE_SKEW:
        raise ValidationError("is more than 5 minutes in the future", "occurred_at")


def check_not_too_old(occurred_at: datetime, now: datetime, max_age: timedelta) -> None:
    """An event may not be back-dated beyond `max_age`: an old date would land in a
    period whose caps were already counted, which is how caps were dodged."""
    if occurred_at < now - max_age:
        raise ValidationError(f"is more than {max_age.days} days in the past", "occurred_at")


def public_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` as it is stored and published: private fields (a survey answer's value) removed."""
    private = PRIVATE_FIELDS.get(event_type, frozenset())
    return {name: value for name, value in data.items() if name not in private}


def fingerprint(envelope: Envelope) -> str:
    """A digest of what the producer sent, so that a re-sent id can be told apart: same
    digest → same event, another digest → a conflict. Private fields (a survey answer's
    value) are left out: otherwise re-posting an answer's id with guessed values would
    tell the stored value (200 for the right guess, 409 for the others)."""
    content = {
        "type": envelope.type,
        "schema_version": envelope.schema_version,
        "occurred_at": format_instant(envelope.occurred_at),
        "employee_id": envelope.employee_id,
        "source": envelope.source,
        "data": public_data(envelope.type, envelope.data),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
