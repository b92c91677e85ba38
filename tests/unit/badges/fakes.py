"""In-memory fakes of the badges service's ports, for unit tests (the service layer, the
consumer's batch handler). Each subclasses its port, so mypy holds it to the port's
signatures (`mypy --strict tests/unit/badges/fakes.py`), and
`tests/integration/badges/test_contracts.py` runs each through the same assertions as
the real adapter."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from cercle_common.errors import InfrastructureError, NotFound
from services.badges.domain.model import AWARDED, EmployeeBadges
from services.badges.ports import (
    AwardProjection,
    BadgePublisher,
    ChallengeResultStore,
    DirectoryCopy,
    RecipientLookup,
    StateRepository,
)


class FakeStates(StateRepository):
    """States kept as copies with a version each; an outbox marked published is dropped on
    load, as the real store does. `conflicts_to_raise`: the next saves lose to another
    writer, which moves the stored version under them."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[EmployeeBadges, int]] = {}
        self.published: dict[str, int] = {}
        self.conflicts_to_raise = 0
        self.bulk_writes = 0
        self.refreshes = 0

    def load(self, employee_id: str) -> tuple[EmployeeBadges, int | None]:
        if employee_id not in self.rows:
            return EmployeeBadges(employee_id=employee_id), None
        stored, version = self.rows[employee_id]
        state = copy.deepcopy(stored)
        if self.published.get(employee_id, 0) >= version:
            state.outbox = []
        return state, version

    def load_all(self, employee_ids: Iterable[str]) -> dict[str, tuple[EmployeeBadges, int | None]]:
        return {employee_id: self.load(employee_id) for employee_id in employee_ids}

    def save(self, state: EmployeeBadges, version: int | None) -> bool:
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            if state.employee_id in self.rows:
                stored, number = self.rows[state.employee_id]
                self.rows[state.employee_id] = (stored, number + 1)
            return False
        stored_version = self.rows[state.employee_id][1] if state.employee_id in self.rows else None
        if stored_version != version:
            return False
        self.rows[state.employee_id] = (copy.deepcopy(state), (version or 0) + 1)
        return True

    def save_all(self, changes: Sequence[tuple[EmployeeBadges, int | None]]) -> list[bool]:
        self.bulk_writes += 1
        return [self.save(state, version) for state, version in changes]

    def mark_published(self, state: EmployeeBadges, version: int) -> None:
        published = self.published.get(state.employee_id, 0)
        self.published[state.employee_id] = max(published, version)

    def mark_all_published(self, published: Sequence[tuple[EmployeeBadges, int]]) -> None:
        for state, version in published:
            self.mark_published(state, version)

    def refresh(self) -> None:
        self.refreshes += 1

    def collect_garbage(self) -> int:
        return 0  # nothing is ever superseded in memory

    def delete(self, employee_id: str) -> None:
        self.rows.pop(employee_id, None)
        self.published.pop(employee_id, None)

    def employee_ids(self, with_outbox_only: bool = False) -> Iterator[str]:
        for employee_id in list(self.rows):
            if not with_outbox_only or self.load(employee_id)[0].outbox:
                yield employee_id

    def with_matches(self, badge_id: str) -> Iterator[EmployeeBadges]:
        for employee_id in list(self.rows):
            state, _ = self.load(employee_id)
            if state.matches.get(badge_id):
                yield state


class FakeAwards(AwardProjection):
    """Each award at its highest revision, in the shape the real projection reads back."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def project_all(self, entries: Sequence[tuple[Mapping[str, Any], int, datetime]]) -> None:
        for message, revision, at in entries:
            if self.rows.get(message["id"], {}).get("revision", 0) >= revision:
                continue
            awarded = message["status"] == AWARDED
            self.rows[message["id"]] = {
                "_id": message["id"],
                "award_id": message["id"],
                "employee_id": message["employee_id"],
                "badge_id": message["badge_id"],
                "tier": message["tier"],
                "status": message["status"],
                "evidence": list(message["evidence"]),
                "reason": message["reason"],
                "revision": revision,
                "awarded_at": at if awarded else None,
                "revoked_at": None if awarded else at,
            }

    def get(self, award_id: str) -> dict[str, Any] | None:
        row = self.rows.get(award_id)
        return None if row is None else dict(row)

    def delete_employee(self, employee_id: str) -> None:
        self.rows = {k: v for k, v in self.rows.items() if v["employee_id"] != employee_id}


class FakeDirectory(DirectoryCopy):
    """Each employee's entry at its highest snapshot version (a replayed or older one
    changes nothing), with the fields and defaults the real copy keeps."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def apply_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        employee_id = snapshot["employee_id"]
        version = int(snapshot.get("version") or 0)
        known = self.rows.get(employee_id)
        if known is not None and known["version"] >= version:
            return
        self.rows[employee_id] = {
            "employee_id": employee_id,
            "team": snapshot.get("team"),
            "visibility": snapshot.get("visibility") or "visible",
            "pseudonym": snapshot.get("pseudonym"),
            "active": bool(snapshot.get("active", True)),
            "version": version,
        }

    def delete(self, employee_id: str) -> None:
        self.rows.pop(employee_id, None)

    def entries(self, employee_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {e: dict(self.rows[e]) for e in employee_ids if e in self.rows}

    def collect_garbage(self) -> int:
        return 0  # one entry per employee: nothing superseded stays


class FakeResults(ChallengeResultStore):
    """Challenge results: the first fixed stands."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def get(self, badge_id: str) -> dict[str, Any] | None:
        row = self.rows.get(badge_id)
        return None if row is None else copy.deepcopy(row)

    def fix(
        self, badge_id: str, winners: list[dict[str, Any]], fixed_at: datetime
    ) -> dict[str, Any]:
        fixed = {"_id": badge_id, "winners": copy.deepcopy(winners), "fixed_at": fixed_at}
        return copy.deepcopy(self.rows.setdefault(badge_id, {**fixed, "applied": False}))

    def mark_applied(self, badge_id: str) -> None:
        if badge_id in self.rows:
            self.rows[badge_id]["applied"] = True


class FakePublisher(BadgePublisher):
    """Keeps what it is given; `down` makes it fail as Kafka being unreachable does."""

    def __init__(self, down: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.down = down

    def publish(self, messages: Sequence[dict[str, Any]]) -> None:
        if not messages:
            return
        if self.down:
            raise InfrastructureError("Kafka unavailable")
        self.sent.extend(copy.deepcopy(list(messages)))


class FakeRecipients(RecipientLookup):
    """Emails by employee id; `down` makes it fail as the events service not answering."""

    def __init__(self, emails: Mapping[str, str] | None = None, down: bool = False) -> None:
        self.emails = dict(emails or {})
        self.down = down

    def email_of(self, employee_id: str) -> str:
        if self.down:
            raise InfrastructureError("events service unavailable")
        if employee_id not in self.emails:
            raise NotFound(f"employee {employee_id!r} has no email on file", "employee_id")
        return self.emails[employee_id]
