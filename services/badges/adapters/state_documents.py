"""The storage form of an employee's badge state: `EmployeeBadges` as the plain mapping the
state store writes (as JSON, in `state_bodies.state_json`) and back.

The domain keeps plain dataclasses; how they are laid out in a document, with timestamps
as ISO strings, and how the documents of older layouts are read, is the adapter's
business. Pure: no driver here, so that unit tests and fakes may use it too."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.badges.domain.applied import AppliedFacts
from services.badges.domain.criteria import Match
from services.badges.domain.model import Award, EmployeeBadges


def state_document(state: EmployeeBadges) -> dict[str, Any]:
    """A plain mapping for the document store (timestamps as ISO strings)."""
    return {
        "employee_id": state.employee_id,
        "event_position": state.event_position,
        "points_position": state.points_position,
        "applied_events": applied_document(state.applied_events),
        "applied_points": applied_document(state.applied_points),
        "reversals_applied": list(state.reversals_applied),
        "as_of": _iso(state.as_of) if state.as_of else None,
        "matches": {
            badge_id: [
                {
                    "event_id": match.event_id,
                    "sequence": match.sequence,
                    "occurred_at": _iso(match.occurred_at),
                    "key": match.key,
                    "content_id": match.content_id,
                    "network": match.network,
                }
                for match in matches
            ]
            for badge_id, matches in state.matches.items()
        },
        "totals": dict(state.totals),
        "awards": {key: _award_document(award) for key, award in state.awards.items()},
        "settled": list(state.settled),
        "outbox": [dict(entry) for entry in state.outbox],
    }


def state_from_document(body: Mapping[str, Any]) -> EmployeeBadges:
    """The inverse of `state_document` (and of its older form, which kept positions
    only: everything up to them counts as applied)."""
    event_position = body.get("event_position", -1)
    points_position = body.get("points_position", -1)
    if "applied_events" in body:
        applied_events = applied_from_document(body["applied_events"])
    else:
        applied_events = AppliedFacts(forgotten_up_to=event_position)
    if "applied_points" in body:
        applied_points = applied_from_document(body["applied_points"])
    else:
        applied_points = AppliedFacts(
            recent={entry: points_position for entry in body.get("points_ids_at_position", [])},
            forgotten_up_to=points_position - 1,
        )
    return EmployeeBadges(
        employee_id=body["employee_id"],
        event_position=event_position,
        points_position=points_position,
        applied_events=applied_events,
        applied_points=applied_points,
        reversals_applied=list(body.get("reversals_applied", [])),
        as_of=_instant(body.get("as_of")),
        matches={
            badge_id: [
                Match(
                    event_id=match["event_id"],
                    sequence=match["sequence"],
                    occurred_at=_required_instant(match["occurred_at"]),
                    key=match.get("key"),
                    content_id=match.get("content_id"),
                    network=match.get("network"),
                )
                for match in matches
            ]
            for badge_id, matches in body.get("matches", {}).items()
        },
        totals=dict(body.get("totals", {})),
        awards={key: _award(award) for key, award in body.get("awards", {}).items()},
        settled=list(body.get("settled", [])),
        outbox=[dict(entry) for entry in body.get("outbox", [])],
    )


def applied_document(applied: AppliedFacts) -> dict[str, Any]:
    """The facts a state applied, as a plain mapping."""
    return {"recent": dict(applied.recent), "forgotten_up_to": applied.forgotten_up_to}


def applied_from_document(body: Mapping[str, Any]) -> AppliedFacts:
    """The inverse of `applied_document`."""
    return AppliedFacts(
        recent={str(key): int(value) for key, value in body.get("recent", {}).items()},
        forgotten_up_to=int(body.get("forgotten_up_to", -1)),
    )


def _award_document(award: Award) -> dict[str, Any]:
    return {
        "badge_id": award.badge_id,
        "tier": award.tier,
        "status": award.status,
        "awarded_at": _iso(award.awarded_at),
        "evidence": list(award.evidence),
        "revoked_at": _iso(award.revoked_at) if award.revoked_at else None,
        "reason": award.reason,
        "revoked_by": award.revoked_by,
        "revision": award.revision,
    }


def _award(body: Mapping[str, Any]) -> Award:
    return Award(
        badge_id=body["badge_id"],
        tier=body["tier"],
        status=body["status"],
        awarded_at=_required_instant(body["awarded_at"]),
        evidence=list(body.get("evidence", [])),
        revoked_at=_instant(body.get("revoked_at")),
        reason=body.get("reason"),
        revoked_by=body.get("revoked_by"),
        revision=body.get("revision", 1),
    )


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instant(value: str | None) -> datetime | None:
    return None if value is None else _required_instant(value)


def _required_instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
