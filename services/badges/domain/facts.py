"""What the badges core learns from: events (from the events service) and points ledger
entries (from the points service), reduced to the fields badge criteria read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cercle_common.envelope import optional_string, parse_instant, required_int, required_string


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
        id=required_string(body, "id"),
        event_id=required_string(body, "event_id"),
        employee_id=required_string(body, "employee_id"),
        points=required_int(body, "points"),
        occurred_at=parse_instant(body.get("occurred_at"), "occurred_at"),
        sequence=required_int(body, "sequence"),
        reverses=optional_string(body, "reverses"),
    )
