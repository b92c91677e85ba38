"""What the points core works on: events, ledger entries and an employee's rule state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cercle_common.envelope import format_instant


@dataclass(frozen=True)
class Event:
    """An accepted event as the core sees it: `sequence` is the events service's accept
    order, which every order-dependent rule follows."""

    id: str
    type: str
    employee_id: str
    occurred_at: datetime
    sequence: int
    data: dict[str, Any]


@dataclass(frozen=True)
class LedgerEntry:
    """One (event, rule) outcome: points (possibly 0, so that a cap is explained) and
    the human explanation of why."""

    id: str
    event_id: str
    event_type: str
    employee_id: str
    rule_id: str
    rules_version: int
    points: int
    explanation: str
    occurred_at: datetime
    sequence: int
    reverses: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `cercle.points.v1` message body (also the stored document, minus `_id`)."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "employee_id": self.employee_id,
            "rule_id": self.rule_id,
            "rules_version": self.rules_version,
            "points": self.points,
            "explanation": self.explanation,
            "occurred_at": format_instant(self.occurred_at),
            "sequence": self.sequence,
            "reverses": self.reverses,
        }


@dataclass
class ShareRecord:
    """What one share earned so far, so that engagement can be capped and a deletion
    can reverse all of it."""

    ledger_ids: list[str] = field(default_factory=list)
    points: int = 0
    engaged: int = 0
    deleted: bool = False


@dataclass
class EmployeeState:
    """Everything the rules need to remember about one employee, plus the period totals
    and the position (`last_sequence`) that produced them: stored in one write."""

    employee_id: str
    last_sequence: int = 0
    # period key -> [points, sequence at which that total was reached] (tie-break).
    totals: dict[str, list[int]] = field(default_factory=dict)
    # "<rule id>|<period key>" -> how many times the rule scored in that period.
    cap_counts: dict[str, int] = field(default_factory=dict)
    # rule id -> occurred_at (epoch seconds) of the last time it scored (cooldowns).
    last_scored: dict[str, float] = field(default_factory=dict)
    # "<rule id>|<value>|<value>" keys of things that may score only once.
    seen: set[str] = field(default_factory=set)
    shares: dict[str, ShareRecord] = field(default_factory=dict)

    def total(self, period_key: str) -> int:
        """Points in one period (0 when none)."""
        return self.totals.get(period_key, [0, 0])[0]

    def to_dict(self) -> dict[str, Any]:
        """A JSON/BSON-ready form (string keys only)."""
        return {
            "employee_id": self.employee_id,
            "last_sequence": self.last_sequence,
            "totals": {key: list(value) for key, value in self.totals.items()},
            "cap_counts": dict(self.cap_counts),
            "last_scored": dict(self.last_scored),
            "seen": sorted(self.seen),
            "shares": {
                share_id: {
                    "ledger_ids": list(record.ledger_ids),
                    "points": record.points,
                    "engaged": record.engaged,
                    "deleted": record.deleted,
                }
                for share_id, record in self.shares.items()
            },
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> EmployeeState:
        """The inverse of `to_dict`."""
        return cls(
            employee_id=body["employee_id"],
            last_sequence=int(body["last_sequence"]),
            totals={key: [int(value[0]), int(value[1])] for key, value in body["totals"].items()},
            cap_counts={key: int(value) for key, value in body["cap_counts"].items()},
            last_scored={key: float(value) for key, value in body["last_scored"].items()},
            seen=set(body["seen"]),
            shares={
                share_id: ShareRecord(
                    ledger_ids=list(record["ledger_ids"]),
                    points=int(record["points"]),
                    engaged=int(record["engaged"]),
                    deleted=bool(record["deleted"]),
                )
                for share_id, record in body["shares"].items()
            },
        )

    def copy(self) -> EmployeeState:
        """A deep copy, so a batch can be computed without touching the committed state."""
        return EmployeeState.from_dict(self.to_dict())


VISIBLE = "visible"
PSEUDONYM = "pseudonym"
HIDDEN = "hidden"
VISIBILITIES = (VISIBLE, PSEUDONYM, HIDDEN)


@dataclass(frozen=True)
class DirectoryEntry:
    """The part of the directory the points service keeps. `position` is the Kafka offset
    of the snapshot (offsets only grow for one key, which lives on one partition)."""

    employee_id: str
    position: int
    erased: bool = False
    team: str = ""
    site: str = ""
    visibility: str = VISIBLE
    pseudonym: str = ""
    active: bool = True

    @property
    def listed(self) -> bool:
        """Whether the employee appears in other people's leaderboards."""
        return not self.erased and self.visibility != HIDDEN

    def placement(self) -> Placement:
        """Where the employee's scores go in the leaderboard index."""
        if self.erased:
            return Placement(team="", site="", listed=False)
        return Placement(team=self.team, site=self.site, listed=self.listed)


@dataclass(frozen=True)
class Placement:
    """Which boards an employee's scores go to: their team's, their site's, and the
    listed boards unless hidden."""

    team: str
    site: str
    listed: bool


UNPLACED = Placement(team="", site="", listed=False)
