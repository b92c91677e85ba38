"""The small abstract ports the points service layer (`handlers.py`) works through.

The real adapters implement them (`adapters/store.py` on MongoDB, `adapters/board_index/`
on Redis, `adapters/publisher.py` on Kafka), and so do the unit tests' in-memory fakes
(`tests/unit/points/fakes.py`); both subclass these protocols, so mypy reports either one
drifting from the port, and `tests/integration/points/test_contracts.py` runs each fake
and its real adapter through the same assertions.

Every write of every port is idempotent: writing again what is written changes nothing,
which is what makes a batch retried after a crash count once (see `handlers.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.points.domain.model import DirectoryEntry, EmployeeState, LedgerEntry, Placement


class LedgerStore(Protocol):
    """The source of truth: ledger entries, state snapshots (each holding the position that
    produced it) and the directory snapshots received. Writes are inserts of what is not
    stored yet; what is stored already is left as it is."""

    def insert_ledger(self, entries: Iterable[LedgerEntry]) -> None:
        """Store ledger entries (by `id`); those already stored are left as they are."""
        ...

    def insert_states(self, states: Iterable[EmployeeState]) -> None:
        """Store state snapshots; an employee's state is their latest snapshot (most
        events `applied`, then highest `last_sequence`)."""
        ...

    def insert_directory(self, entries: Iterable[DirectoryEntry]) -> None:
        """Store directory snapshots; an employee's entry is the one at the highest
        `position`."""
        ...

    def load_states(
        self, employee_ids: set[str] | None = None, compact: bool = False
    ) -> dict[str, EmployeeState]:
        """The state of every employee (or of these); with `compact`, the snapshots the
        latest ones supersede are deleted."""
        ...

    def load_directory(self) -> dict[str, DirectoryEntry]:
        """The latest directory entry of every employee."""
        ...

    def erase(self, employee_id: str, keep_position: int) -> None:
        """Right to erasure: drop the employee's ledger, states and directory entries but
        the erasure marker at `keep_position`."""
        ...

    def forget(self, employee_ids: Iterable[str]) -> None:
        """Drop the ledger entries and states of these employees (a rescore rewrites them)."""
        ...

    def drop_scores(self) -> None:
        """Drop every ledger entry and state (a full rescore rewrites them)."""
        ...

    def ensure_indexes(self) -> None:
        """Make the store ready to serve its queries (MongoDB: create its indexes)."""
        ...

    def ledger_page(self, employee_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
        """An employee's ledger entries, newest (highest sequence) first, then by id: the
        `to_dict()` fields of each entry."""
        ...

    def ledger_points(self) -> Iterator[tuple[str, int, datetime]]:
        """(employee id, points, occurred_at) of every ledger entry."""
        ...

    def ledger_of(self, employee_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Every ledger entry of these employees, as `ledger_page` gives them, in no order."""
        ...

    def ping(self) -> None:
        """Raise unless the store answers (a readiness check)."""
        ...


@dataclass(frozen=True)
class BoardRow:
    """One row of a board: the member and its points."""

    member: str
    points: int


@dataclass(frozen=True)
class GroupTotals:
    """Team (or site) totals and active member counts for one period."""

    totals: dict[str, int]
    active: dict[str, int]


class IndexWriter(Protocol):
    """Absolute writes to the leaderboard index, queued by `BoardIndex.write` and sent
    together: replaying one changes nothing."""

    def project(
        self, employee_id: str, placement: Placement, totals: Iterable[tuple[str, int, int]]
    ) -> None:
        """Set an employee's totals (period key, points, sequence reached) everywhere they
        belong given their placement: their own totals always; the global, team and site
        boards and the team and site sums when listed (taken out of them when not)."""
        ...

    def unplace(self, employee_id: str, placement: Placement, period_keys: Iterable[str]) -> None:
        """Take an employee out of the boards and group sums of `placement` (a move)."""
        ...

    def directory(self, entry: DirectoryEntry) -> None:
        """Store the directory fields the readers use (none for an erased employee) and
        the active member counts (active listed employees only)."""
        ...

    def forget_totals(self, employee_id: str) -> None:
        """Remove an employee's own totals (erasure)."""
        ...


class BoardIndex(Protocol):
    """The leaderboard index: boards ranked by `ranking.board_score` (more points first,
    then who reached them first), each employee's totals, team and site sums of listed
    members, the directory copy. Derived from the `LedgerStore`, rebuildable from it."""

    def write(self, build: Callable[[IndexWriter], None]) -> None:
        """Run `build` against a writer, then send what it queued."""
        ...

    def clear(self) -> None:
        """Delete the whole index (it is then not built)."""
        ...

    def board_key(self, period_key: str, scope: str = "global", scope_id: str = "") -> str:
        """The name of one board (`scope` global, team or site), for `page` and `position`."""
        ...

    def page(self, board: str, offset: int, count: int) -> tuple[list[BoardRow], int]:
        """Rows at [offset, offset + count) from the top, and the board's size."""
        ...

    def position(self, board: str, employee_id: str, score: int) -> int:
        """The 0-based place of an employee on a board: their own if on it, else where
        `score` would stand (after every better score)."""
        ...

    def totals(self, employee_id: str, period_keys: Sequence[str]) -> list[tuple[int, int]]:
        """(points, sequence reached) for each period key, (0, 0) when none."""
        ...

    def all_totals(self, employee_id: str) -> dict[str, tuple[int, int]]:
        """Every period total of one employee."""
        ...

    def period_keys_of(self, employee_ids: Sequence[str]) -> list[list[str]]:
        """The period keys each employee has totals for."""
        ...

    def directory(self, employee_ids: Sequence[str]) -> list[dict[str, str]]:
        """The directory fields of each employee (`team`, `site`, `visibility`,
        `pseudonym`, `active` as "1" or "0"); {} when unknown or erased."""
        ...

    def group_totals(self, group: str, period_key: str) -> GroupTotals:
        """Sums of every team (`group="team"`) or site in a period, and the active member
        counts (groups with none left out)."""
        ...

    def is_built(self) -> bool:
        """Whether the whole index was built since the index last lost writes (flushed,
        emptied, or restarted and perhaps missing its last second)."""
        ...

    def mark_built(self) -> None:
        """Record that the whole index is built."""
        ...

    def project_all(
        self, states: Iterable[EmployeeState], directory: Iterable[DirectoryEntry]
    ) -> None:
        """Write the directory copy of these entries, then every total of these states
        where the employee's placement puts it."""
        ...

    def rebuild(self, states: Iterable[EmployeeState], directory: Iterable[DirectoryEntry]) -> None:
        """Replace the whole index with the projection of these (`clear`, `project_all`),
        then mark it built."""
        ...

    def ping(self) -> None:
        """Raise unless the index answers (a readiness check)."""
        ...


class EntryPublisher(Protocol):
    """Publishes ledger entries on `cercle.points.v1` (key: the employee id; value: the
    entry's `to_dict()` as JSON); its readers deduplicate on the entry's `id`."""

    def publish(self, entries: Sequence[LedgerEntry]) -> None:
        """Send and wait until every entry is durable; `InfrastructureError` otherwise."""
        ...

    def close(self) -> None:
        """Flush what is pending and release the connection."""
        ...
