"""The read side: leaderboards, an employee's points and ledger. Every leaderboard answer
comes from the Redis index in O(log n + page); nothing here scans the employees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cercle_common.cursors import SignedCursors
from cercle_common.errors import NotFound, ValidationError
from cercle_common.periods import PERIOD_KINDS, period_keys
from services.points.adapters.board_index import BoardRow, LeaderboardIndex
from services.points.adapters.store import PointsStore
from services.points.domain.model import HIDDEN, PSEUDONYM
from services.points.domain.ranking import (
    board_score,
    resolve_period,
)

SCOPES = ("global", "team", "site")
NORMALIZATIONS = ("total", "per_active_member")


@dataclass(frozen=True)
class BoardQuery:
    """An employee leaderboard request, already checked."""

    period: str
    at: str | None
    scope: str = "global"
    team_id: str | None = None
    site_id: str | None = None


class PointsQueries:
    """Answers the HTTP API's questions."""

    def __init__(
        self, index: LeaderboardIndex, store: PointsStore, time_zone: str, cursors: SignedCursors
    ) -> None:
        self.index = index
        self.store = store
        self.time_zone = time_zone
        # Opaque, authenticated page cursors, each valid for its own list only.
        self.cursors = cursors

    def employees_board(
        self, query: BoardQuery, first: int, after: str | None, now: datetime
    ) -> dict[str, Any]:
        """Top of an employee leaderboard, a page at a time."""
        period = resolve_period(query.period, query.at, self.time_zone, now)
        board = self._board(period.key, query.scope, query.team_id, query.site_id)
        offset = self.cursors.open_offset(board, after)
        rows, size = self.index.page(board, offset, first)
        return {
            "period": period.kind,
            "period_key": period.key,
            "scope": query.scope,
            "entries": self._entries(rows, offset),
            "page_info": self._page_info(board, offset, len(rows), size),
            "total_count": size,
        }

    def around(
        self, employee_id: str, query: BoardQuery, radius: int, now: datetime
    ) -> dict[str, Any]:
        """An employee's own rank (hidden employees too) and their neighbours."""
        known = self.index.directory([employee_id])[0]
        period = resolve_period(query.period, query.at, self.time_zone, now)
        ((points, reached),) = self.index.totals(employee_id, [period.key])
        if not known and not points:
            raise NotFound(f"no employee {employee_id} on the leaderboards", "employee_id")
        team_id = query.team_id or (known.get("team") if query.scope == "team" else None)
        site_id = query.site_id or (known.get("site") if query.scope == "site" else None)
        board = self._board(period.key, query.scope, team_id, site_id)
        # Without points the employee stands after everyone who has some.
        score = board_score(points, reached if points else 2**32 - 1)
        position = self.index.position(board, employee_id, score)
        start = max(position - radius, 0)
        listed = known.get("visibility") != HIDDEN and bool(known)
        count = position - start + radius + (1 if listed else 0)
        rows, _ = self.index.page(board, start, count)
        entries = self._entries(rows, start)
        if not listed:
            entries = [entry for entry in entries if entry["employee_id"] != employee_id]
        return {
            "employee_id": employee_id,
            "period": period.kind,
            "period_key": period.key,
            "scope": query.scope,
            "rank": position + 1,
            "points": points,
            # False for a hidden employee: `rank` is where they would stand, and the
            # entry at that rank is someone else's.
            "listed": listed,
            "entries": entries,
        }

    def groups_board(
        self,
        group: str,
        period_name: str,
        at: str | None,
        normalize: str,
        first: int,
        after: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """Teams (or sites) ranked by total points or points per active member; a small
        team can beat a large one on the latter. Ties: by name, for a stable order."""
        if normalize not in NORMALIZATIONS:
            raise ValidationError(f"must be one of {', '.join(NORMALIZATIONS)}", "normalize")
        period = resolve_period(period_name, at, self.time_zone, now)
        groups_list = f"{group}:{period.key}:{normalize}"
        offset = self.cursors.open_offset(groups_list, after)
        data = self.index.group_totals(group, period.key)
        names = set(data.totals) | set(data.active)
        rows = []
        for name in names:
            points = data.totals.get(name, 0)
            active = data.active.get(name, 0)
            if normalize == "total":
                score: float = points
            else:
                score = round(points / active, 2) if active else 0.0
            rows.append((name, points, active, score))
        rows.sort(key=lambda row: (-row[3], -row[1], row[0]))
        page = rows[offset : offset + first]
        id_field = f"{group}_id"
        return {
            "period": period.kind,
            "period_key": period.key,
            "normalize": normalize,
            "entries": [
                {
                    "rank": offset + index + 1,
                    id_field: name,
                    "points": points,
                    "active_members": active,
                    "score": score,
                }
                for index, (name, points, active, score) in enumerate(page)
            ],
            "page_info": self._page_info(groups_list, offset, len(page), len(rows)),
            "total_count": len(rows),
        }

    def employee_points(self, employee_id: str, now: datetime) -> dict[str, Any]:
        """An employee's points in every current period."""
        known = self.index.directory([employee_id])[0]
        keys = period_keys(now, self.time_zone).as_dict()
        totals = self.index.totals(employee_id, [keys[kind] for kind in PERIOD_KINDS])
        if not known and not any(points for points, _ in totals):
            raise NotFound(f"no employee {employee_id} known to the points service", "employee_id")
        return {
            "employee_id": employee_id,
            "points": {kind: total[0] for kind, total in zip(PERIOD_KINDS, totals, strict=True)},
            "period_keys": keys,
        }

    def ledger(self, employee_id: str, first: int, after: str | None) -> dict[str, Any]:
        """An employee's ledger, newest first."""
        ledger = f"ledger:{employee_id}"
        offset = self.cursors.open_offset(ledger, after)
        rows = self.store.ledger_page(employee_id, offset, first + 1)
        has_next = len(rows) > first
        rows = rows[:first]
        entries = [{key: row[key] for key in _LEDGER_FIELDS} for row in rows]
        return {
            "employee_id": employee_id,
            "entries": entries,
            "page_info": {
                "has_next_page": has_next,
                "end_cursor": self.cursors.seal(ledger, offset + len(rows)) if rows else None,
            },
        }

    def _page_info(self, list_id: str, offset: int, returned: int, size: int) -> dict[str, Any]:
        end = offset + returned
        return {
            "has_next_page": end < size,
            "end_cursor": self.cursors.seal(list_id, end) if returned else None,
        }

    def _board(self, period_key: str, scope: str, team_id: str | None, site_id: str | None) -> str:
        if scope not in SCOPES:
            raise ValidationError(f"must be one of {', '.join(SCOPES)}", "scope")
        if scope == "team":
            if not team_id:
                raise ValidationError("is required when scope is team", "team_id")
            return self.index.board_key(period_key, "team", team_id)
        if scope == "site":
            if not site_id:
                raise ValidationError("is required when scope is site", "site_id")
            return self.index.board_key(period_key, "site", site_id)
        return self.index.board_key(period_key)

    def _entries(self, rows: list[BoardRow], offset: int) -> list[dict[str, Any]]:
        directory = self.index.directory([row.member for row in rows])
        entries = []
        for index, (row, known) in enumerate(zip(rows, directory, strict=True)):
            pseudonymous = known.get("visibility") == PSEUDONYM
            entries.append(
                {
                    "rank": offset + index + 1,
                    "employee_id": None if pseudonymous else row.member,
                    "pseudonym": (known.get("pseudonym") or None) if pseudonymous else None,
                    "points": row.points,
                }
            )
        return entries


_LEDGER_FIELDS = (
    "id",
    "event_id",
    "event_type",
    "rule_id",
    "rules_version",
    "points",
    "explanation",
    "occurred_at",
    "sequence",
    "reverses",
)
