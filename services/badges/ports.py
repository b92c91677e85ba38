"""The small abstract ports the badges service works through. The adapters implement them:
MongoDB (`adapters/repository.py`: states, awards, directory copy, challenge results),
Kafka (`adapters/publisher.py`) and the events service's HTTP API
(`adapters/recipients.py`); unit tests use the in-memory fakes of `tests/unit/badges/
fakes.py`, and `tests/integration/badges/test_contracts.py` runs fakes and adapters
through the same assertions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from services.badges.domain.model import EmployeeBadges


class StateRepository(Protocol):
    """Employees' badge states, written whole under an optimistic version check."""

    def load(self, employee_id: str) -> tuple[EmployeeBadges, int | None]:
        """The state and its version (None when there is none yet)."""
        ...

    def load_all(self, employee_ids: Iterable[str]) -> dict[str, tuple[EmployeeBadges, int | None]]:
        """`load` of several employees."""
        ...

    def save(self, state: EmployeeBadges, version: int | None) -> bool:
        """Write unless someone wrote since `version`; False on such a conflict."""
        ...

    def save_all(self, changes: Sequence[tuple[EmployeeBadges, int | None]]) -> list[bool]:
        """`save` of several states at once; which of them were written."""
        ...

    def mark_published(self, state: EmployeeBadges, version: int) -> None:
        """The outbox of `version` is published (`state` has it taken out)."""
        ...

    def mark_all_published(self, published: Sequence[tuple[EmployeeBadges, int]]) -> None:
        """`mark_published` of several states at once."""
        ...

    def refresh(self) -> None:
        """Read anew what the repository remembers of the states (a consumer given
        partitions that another may have written meanwhile)."""
        ...

    def collect_garbage(self) -> int:
        """Remove what newer writes superseded; how many versions were removed."""
        ...

    def delete(self, employee_id: str) -> None:
        """Forget an employee."""
        ...

    def employee_ids(self, with_outbox_only: bool = False) -> Iterator[str]:
        """Every employee with a state (or only those with an outbox to publish)."""
        ...

    def with_matches(self, badge_id: str) -> Iterator[EmployeeBadges]:
        """The states with events matching a badge."""
        ...


class AwardProjection(Protocol):
    """The awards as the APIs read them."""

    def project_all(self, entries: Sequence[tuple[Mapping[str, Any], int, datetime]]) -> None:
        """Store each award's status at its revision (a higher revision stored wins)."""
        ...

    def get(self, award_id: str) -> dict[str, Any] | None:
        """One award (`employee_id`, `badge_id`, `tier`, `status`, ...) by its public id."""
        ...

    def delete_employee(self, employee_id: str) -> None:
        """Forget an employee's awards."""
        ...


class DirectoryCopy(Protocol):
    """The part of the directory the badges service keeps."""

    def apply_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Keep a snapshot unless a newer one is stored."""
        ...

    def delete(self, employee_id: str) -> None:
        """Forget an employee."""
        ...

    def entries(self, employee_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Entries by employee id."""
        ...

    def collect_garbage(self) -> int:
        """Remove entries newer snapshots superseded; how many."""
        ...


class ChallengeResultStore(Protocol):
    """Challenge results, fixed once."""

    def get(self, badge_id: str) -> dict[str, Any] | None:
        """The stored result, if any."""
        ...

    def fix(
        self, badge_id: str, winners: list[dict[str, Any]], fixed_at: datetime
    ) -> dict[str, Any]:
        """Store the winners unless already fixed; the result that stands."""
        ...

    def mark_applied(self, badge_id: str) -> None:
        """Every winner's award is written."""
        ...


class BadgePublisher(Protocol):
    """Publishes `cercle.badges.v1` messages; durable when `publish` returns."""

    def publish(self, messages: Sequence[dict[str, Any]]) -> None:
        """Send and wait for the acknowledgement; `InfrastructureError` when down."""
        ...


class RecipientLookup(Protocol):
    """Where an Open Badges recipient's email comes from (personal data stays in the
    events service): asked when an assertion is first served, never on the consumer's
    path."""

    def email_of(self, employee_id: str) -> str:
        """The employee's email; `NotFound` naming `employee_id` if unknown or without one,
        `InfrastructureError` when the source does not answer."""
        ...
