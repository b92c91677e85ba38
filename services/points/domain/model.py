"""What the points core works on: events, ledger entries and an employee's rule state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cercle_common.envelope import format_instant

# How many applied event ids an employee's state remembers. Kafka redelivers only what
# follows the last commit, and the events service publishes an id with one sequence
# forever, increasing with the offset: an event at or below the sequence of the oldest
# forgotten id is such a redelivery, whatever the memory's size. The ids are there for
# what sequences cannot tell: two events sharing a sequence, and an id published again
# under a new sequence, both of which happen close together in an employee's history
# (a relay or a sequence race, seconds apart). 128 ids cover far more than that and
# keep a busy employee's state snapshot under ~6 KB more than before.
REMEMBERED_EVENTS = 128


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
    # When the events service accepted it (in the published envelope, so a replay sees
    # the same value); None only for events published before it was sent.
    accepted_at: datetime | None = None

    @property
    def counted_at(self) -> datetime:
        """The instant caps and cooldowns count at: the accept time, which the sender
        cannot choose, so back-dating a share cannot land it in an unused day's cap."""
        return self.accepted_at or self.occurred_at


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
    and the position that produced them (`last_sequence`, the ids recently applied and
    how many events were applied in all): stored in one write."""

    employee_id: str
    last_sequence: int = 0
    # How many events were applied: grows by one per event, names the snapshot.
    applied: int = 0
    # id -> sequence of the last `REMEMBERED_EVENTS` events applied, oldest first.
    recent: dict[str, int] = field(default_factory=dict)
    # The highest sequence among the applied events no longer in `recent`.
    forgotten_through: int = 0
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

    def was_applied(self, event: Event) -> bool:
        """Whether `event` was applied already: its id is remembered, or its sequence is
        at or below that of an event already forgotten (a redelivery, see
        `REMEMBERED_EVENTS`). A new id at or below `last_sequence` is not."""
        return event.id in self.recent or event.sequence <= self.forgotten_through

    def remember(self, event: Event) -> None:
        """Record `event` as applied (the position moves to it)."""
        self.applied += 1
        self.last_sequence = max(self.last_sequence, event.sequence)
        self.recent[event.id] = event.sequence
        while len(self.recent) > REMEMBERED_EVENTS:
            oldest = next(iter(self.recent))
            self.forgotten_through = max(self.forgotten_through, self.recent.pop(oldest))

    def to_dict(self) -> dict[str, Any]:
        """A JSON/BSON-ready form (string keys only)."""
        return {
            "employee_id": self.employee_id,
            "last_sequence": self.last_sequence,
            "applied": self.applied,
            "recent": dict(self.recent),
            "forgotten_through": self.forgotten_through,
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
        last_sequence = int(body["last_sequence"])
        return cls(
            employee_id=body["employee_id"],
            last_sequence=last_sequence,
            applied=int(body.get("applied", 0)),
            recent={key: int(value) for key, value in body.get("recent", {}).items()},
            # A snapshot written before ids were remembered covers its whole position.
            forgotten_through=int(body.get("forgotten_through", last_sequence)),
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
