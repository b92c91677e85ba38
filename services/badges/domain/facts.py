"""What the badges core learns from: events (from the events service) and points ledger
entries (from the points service), reduced to the fields badge criteria read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cercle_common.errors import ValidationError


@dataclass(frozen=True)
class ActionFact:
    """An accepted event. `sequence` is the events service's accept order: per employee it
    is also the delivery order, and it decides every order-dependent rule (first-K)."""

    id: str
    type: str
    employee_id: str
    occurred_at: datetime
    sequence: int
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PointsFact:
    """One points ledger entry (`<event_id>:<rule_id>`); a reversal has `reverses` set and,
    usually, negative points."""

    id: str
    event_id: str
    employee_id: str
    points: int
    occurred_at: datetime
    sequence: int
    reverses: str | None = None


def parse_points_entry(body: Mapping[str, Any]) -> PointsFact:
    """A `cercle.points.v1` message body; raises `ValidationError` naming the bad field."""
    return PointsFact(
        id=_string(body, "id"),
        event_id=_string(body, "event_id"),
        employee_id=_string(body, "employee_id"),
        points=_integer(body, "points"),
        occurred_at=_instant(body, "occurred_at"),
        sequence=_integer(body, "sequence"),
        reverses=_optional_string(body, "reverses"),
    )


def _string(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationError("is required and must be a non-empty string", name)
    return value


def _optional_string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("must be a string or null", name)
    return value


def _integer(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("is required and must be an integer", name)
    return value


def _instant(body: Mapping[str, Any], name: str) -> datetime:
    value = body.get(name)
    if not isinstance(value, str):
        raise ValidationError("is required and must be an ISO 8601 timestamp", name)
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise ValidationError(f"not an ISO 8601 timestamp: {value!r}", name) from error
    if instant.tzinfo is None:
        raise ValidationError("timestamp needs a time zone", name)
    return instant.astimezone(UTC)
