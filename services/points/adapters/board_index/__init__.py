"""The leaderboard index in Redis: sorted sets that answer top-N and a rank in O(log n).

Derived from MongoDB (which stays the source of truth) and rebuildable at any time
(`python -m services.points.entrypoints.rescore --index-only`; the consumer rebuilds it by
itself when `built` says so). Every write sets an absolute value (ZADD of the absolute
score, HSET of the absolute total, team sums moved by the difference with the stored
member total inside one Lua script), so replaying a write changes nothing.

Keys, all under the prefix `{<name>}:` (`index_name`: `cercle_points` with the settings'
database prefix):
- `pts:<employee>` hash period key -> "points:sequence" (every employee, hidden too);
- `lb:<period>` / `lb:<period>:team:<team>` / `lb:<period>:site:<site>` sorted sets of
  the listed employees (not hidden), score from `ranking.board_score`;
- `tm:<period>:<team>` hash member -> points and `teams:<period>` sorted set team -> sum
  (same for sites with `sm:` and `sites:`) of the listed members only: with a hidden
  member in the sum, the team total minus the team board would give their points;
- `active_of` hash employee -> "team<TAB>site" of active listed employees, `active:team`
  and `active:site` hashes of their counts (the per-member average's divisor);
- `dir:<employee>` hash of the directory fields the API needs;
- `built` hash: the Redis `run_id` under which the whole index was last built. Missing
  (a flushed or emptied Redis) or from another run (a restart, which may lose the last
  second of writes) means the index must be rebuilt from MongoDB.

The Lua scripts (`*.lua` beside this file, registered at start) receive every key they
touch in KEYS and build none from ARGV. One call touches an employee's totals together
with boards and sums every employee shares, so the braces of the prefix are a Redis
Cluster hash tag putting the whole index of a deployment in one slot: the scripts and the
pipelines then run on a Cluster (Valkey or Redis) as on the single node of the local stack
and the Kubernetes StatefulSet. The names are otherwise those the index had before the
tag; `clear` (so every rebuild) also deletes the index under those untagged names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cercle_common.errors import InfrastructureError
from cercle_common.settings import Settings
from services.points.domain.model import UNPLACED, DirectoryEntry, EmployeeState, Placement
from services.points.domain.ranking import board_score, points_of
from services.points.ports import BoardIndex, BoardRow, GroupTotals, IndexWriter

__all__ = ["BoardRow", "GroupTotals", "LeaderboardIndex", "index_name", "redis_errors"]


SCRIPTS = {
    name: (Path(__file__).parent / f"{name}.lua").read_text(encoding="utf-8")
    for name in ("project", "unplace", "active")
}
_UNLINK_BATCH = 1000


def index_name(settings: Settings) -> str:
    """The name of this deployment's index (tests get their own through the database
    prefix); its keys are under `{<name>}:`."""
    return f"{settings.mongo_db_prefix}cercle_points"


class LeaderboardIndex(BoardIndex):
    """Reads and idempotent writes of the Redis leaderboard index."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        # Typed loosely: redis-py's stubs mix the sync and async clients' return types.
        self.client: Any = client
        self.name = name
        self.prefix = f"{{{name}}}:"
        self._project = client.register_script(SCRIPTS["project"])
        self._unplace = client.register_script(SCRIPTS["unplace"])
        self._active = client.register_script(SCRIPTS["active"])

    @classmethod
    def from_url(cls, url: str, name: str) -> LeaderboardIndex:
        """The index `name` on the Redis at `url`."""
        client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        return cls(client, name)

    @classmethod
    def from_settings(cls, settings: Settings) -> LeaderboardIndex:
        """This deployment's index on the configured Redis (connects lazily)."""
        return cls.from_url(settings.redis_url, index_name(settings))

    # Key names ----------------------------------------------------------------------

    def totals_key(self, employee_id: str) -> str:
        """The hash of an employee's own totals."""
        return f"{self.prefix}pts:{employee_id}"

    def board_key(self, period_key: str, scope: str = "global", scope_id: str = "") -> str:
        """The sorted set of one board."""
        if scope == "global":
            return f"{self.prefix}lb:{period_key}"
        return f"{self.prefix}lb:{period_key}:{scope}:{scope_id}"

    def members_key(self, group: str, period_key: str, name: str) -> str:
        """The hash member -> points of one team (`group="team"`) or site in a period."""
        short = "tm" if group == "team" else "sm"
        return f"{self.prefix}{short}:{period_key}:{name}"

    def sums_key(self, group: str, period_key: str) -> str:
        """The sorted set team (or site) -> sum of listed members in a period."""
        plural = "teams" if group == "team" else "sites"
        return f"{self.prefix}{plural}:{period_key}"

    def active_key(self, group: str) -> str:
        """The hash team (or site) -> count of active listed members."""
        return f"{self.prefix}active:{group}"

    def placement_keys(self, period_key: str, placement: Placement) -> list[str]:
        """The keys a placement's scores of one period go to, in the scripts' order: the
        global board, then board, member totals and sums of the team, then of the site."""
        keys = [self.board_key(period_key)]
        for group, name in (("team", placement.team), ("site", placement.site)):
            if name:
                keys += [
                    self.board_key(period_key, group, name),
                    self.members_key(group, period_key, name),
                    self.sums_key(group, period_key),
                ]
        return keys

    # Writes -------------------------------------------------------------------------

    def write(self, build: Callable[[IndexWriter], None]) -> None:
        """Run `build` against one pipeline, then send it (one round trip)."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=False)
            build(_PipelineWriter(self, pipe))
            pipe.execute()

    def clear(self) -> None:
        """Delete every key of this index (before a rebuild), and the index under its
        former untagged names (`{name}` without braces)."""
        with redis_errors():
            self._unlink_matching(f"{self.prefix}*", together=True)
            # Former keys share no slot: one UNLINK each, so a Cluster takes them too.
            self._unlink_matching(f"{self.name}:*", together=False)

    def _unlink_matching(self, pattern: str, together: bool) -> None:
        batch: list[str] = []
        for key in self.client.scan_iter(match=pattern, count=_UNLINK_BATCH):
            batch.append(key)
            if len(batch) >= _UNLINK_BATCH:
                self._unlink(batch, together)
                batch = []
        if batch:
            self._unlink(batch, together)

    def _unlink(self, keys: list[str], together: bool) -> None:
        if together:
            self.client.unlink(*keys)
            return
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.unlink(key)
        pipe.execute()

    # Reads --------------------------------------------------------------------------

    def page(self, board: str, offset: int, count: int) -> tuple[list[BoardRow], int]:
        """Rows at [offset, offset + count) from the top, and the board's size."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.zrevrange(board, offset, offset + count - 1, withscores=True)
            pipe.zcard(board)
            rows, size = pipe.execute()
        return [BoardRow(member, points_of(score)) for member, score in rows], int(size)

    def position(self, board: str, employee_id: str, score: int) -> int:
        """The 0-based place of an employee on a board: their own if listed, else where
        their score would stand (after everyone with a better score)."""
        with redis_errors():
            rank = self.client.zrevrank(board, employee_id)
            if rank is not None:
                return int(rank)
            return int(self.client.zcount(board, f"({score}", "+inf"))

    def totals(self, employee_id: str, period_keys: Sequence[str]) -> list[tuple[int, int]]:
        """(points, sequence reached) for each period key (0, 0 when none)."""
        with redis_errors():
            values = self.client.hmget(self.totals_key(employee_id), list(period_keys))
        result = []
        for value in values:
            if value is None:
                result.append((0, 0))
            else:
                points, _, sequence = value.partition(":")
                result.append((int(points), int(sequence)))
        return result

    def all_totals(self, employee_id: str) -> dict[str, tuple[int, int]]:
        """Every period total of one employee."""
        with redis_errors():
            values = self.client.hgetall(self.totals_key(employee_id))
        return {
            key: (int(value.partition(":")[0]), int(value.partition(":")[2]))
            for key, value in values.items()
        }

    def period_keys_of(self, employee_ids: Sequence[str]) -> list[list[str]]:
        """The period keys each employee has totals for."""
        if not employee_ids:
            return []
        with redis_errors():
            pipe = self.client.pipeline(transaction=False)
            for employee_id in employee_ids:
                pipe.hkeys(self.totals_key(employee_id))
            return list(pipe.execute())

    def directory(self, employee_ids: Sequence[str]) -> list[dict[str, str]]:
        """The directory fields of each employee ({} when unknown)."""
        if not employee_ids:
            return []
        with redis_errors():
            pipe = self.client.pipeline(transaction=False)
            for employee_id in employee_ids:
                pipe.hgetall(f"{self.prefix}dir:{employee_id}")
            return list(pipe.execute())

    def group_totals(self, group: str, period_key: str) -> GroupTotals:
        """Totals of every team (`group="team"`) or site, and their active members."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.zrange(self.sums_key(group, period_key), 0, -1, withscores=True)
            pipe.hgetall(self.active_key(group))
            rows, active = pipe.execute()
        return GroupTotals(
            totals={member: round(score) for member, score in rows},
            active={name: int(count) for name, count in active.items() if int(count) > 0},
        )

    def is_built(self) -> bool:
        """Whether the whole index was built on this Redis since it last started (see
        `built` in the module docstring)."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.hget(f"{self.prefix}built", "run_id")
            pipe.info("server")
            built_on, server = pipe.execute()
        return built_on is not None and built_on == server.get("run_id")

    def rebuild(self, states: Iterable[EmployeeState], directory: Iterable[DirectoryEntry]) -> None:
        """Replace the whole index with the projection of these states and directory
        entries (MongoDB's), then mark it built."""
        self.clear()
        self.project_all(states, directory)
        self.mark_built()

    def project_all(
        self,
        states: Iterable[EmployeeState],
        directory: Iterable[DirectoryEntry],
        chunk: int = 2000,
    ) -> None:
        """Write everything the readers use for these directory entries and states: the
        directory copy (visibility, pseudonyms, member counts), then every total on the
        boards and group sums the employee's placement puts it in."""
        entries = list(directory)
        placements = {entry.employee_id: entry.placement() for entry in entries}
        for start in range(0, len(entries), chunk):
            part = entries[start : start + chunk]

            def write_directory(writer: IndexWriter, part: list[DirectoryEntry] = part) -> None:
                for entry in part:
                    writer.directory(entry)

            self.write(write_directory)
        items = list(states)
        for start in range(0, len(items), chunk):
            part_states = items[start : start + chunk]

            def write_states(writer: IndexWriter, part: list[EmployeeState] = part_states) -> None:
                for state in part:
                    placement = placements.get(state.employee_id, UNPLACED)
                    totals = sorted(state.totals.items())
                    rows = [(key, value[0], value[1]) for key, value in totals]
                    writer.project(state.employee_id, placement, rows)

            self.write(write_states)

    def mark_built(self) -> None:
        """Record that the whole index was built on this Redis run."""
        with redis_errors():
            run_id = self.client.info("server").get("run_id")
            self.client.hset(f"{self.prefix}built", mapping={"run_id": run_id})

    def ping(self) -> None:
        """Raises unless Redis answers (a readiness check)."""
        with redis_errors():
            self.client.ping()


class _PipelineWriter(IndexWriter):
    """Queues idempotent writes on a pipeline (see `LeaderboardIndex.write`)."""

    def __init__(self, index: LeaderboardIndex, pipe: Any) -> None:
        self._index = index
        self._pipe = pipe

    def project(
        self, employee_id: str, placement: Placement, totals: Iterable[tuple[str, int, int]]
    ) -> None:
        """Set an employee's totals (period key, points, sequence reached) everywhere
        they belong, given their placement."""
        index = self._index
        keys = [index.totals_key(employee_id)]
        args: list[Any] = [
            employee_id,
            placement.team,
            placement.site,
            "1" if placement.listed else "0",
        ]
        for period_key, points, sequence in totals:
            keys += index.placement_keys(period_key, placement)
            args += [period_key, points, sequence, board_score(points, sequence)]
        if len(args) > 4:
            index._project(keys=keys, args=args, client=self._pipe)

    def unplace(self, employee_id: str, placement: Placement, period_keys: Iterable[str]) -> None:
        """Take an employee out of the boards and group sums of `placement`."""
        index = self._index
        keys = [
            key for period_key in period_keys for key in index.placement_keys(period_key, placement)
        ]
        if keys:
            index._unplace(
                keys=keys, args=[employee_id, placement.team, placement.site], client=self._pipe
            )

    def directory(self, entry: DirectoryEntry) -> None:
        """Store the directory fields the API reads, and the active member counts."""
        index = self._index
        key = f"{index.prefix}dir:{entry.employee_id}"
        active = ""
        if entry.erased:
            self._pipe.delete(key)
        else:
            self._pipe.hset(
                key,
                mapping={
                    "team": entry.team,
                    "site": entry.site,
                    "visibility": entry.visibility,
                    "pseudonym": entry.pseudonym,
                    "active": "1" if entry.active else "0",
                },
            )
            # Hidden employees count in no group, so a group's size says nothing of them.
            if entry.active and entry.listed:
                active = f"{entry.team}\t{entry.site}"
        index._active(
            keys=[f"{index.prefix}active_of", index.active_key("team"), index.active_key("site")],
            args=[entry.employee_id, active],
            client=self._pipe,
        )

    def forget_totals(self, employee_id: str) -> None:
        """Remove an employee's own totals (erasure)."""
        self._pipe.delete(self._index.totals_key(employee_id))


@contextmanager
def redis_errors() -> Iterator[None]:
    """A Redis outage becomes `InfrastructureError` (HTTP 503, consumer retry)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as error:
        raise InfrastructureError(f"Redis unavailable: {error}") from error
