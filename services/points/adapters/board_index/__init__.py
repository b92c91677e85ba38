"""The leaderboard index in Redis: sorted sets that answer top-N and a rank in O(log n).

Derived from MongoDB (which stays the source of truth) and rebuildable at any time
(`python -m services.points.entrypoints.rescore --index-only`). Every write sets an absolute value
(ZADD of the absolute score, HSET of the absolute total, team sums moved by the
difference with the stored member total inside one Lua script), so replaying a write
changes nothing. Keys (all under the settings' prefix):
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
The scripts build key names at run time, which a single Redis node (local stack and the
Kubernetes StatefulSet) allows; a Redis Cluster would need hash tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cercle_common.errors import InfrastructureError
from services.points.domain.model import UNPLACED, DirectoryEntry, EmployeeState, Placement
from services.points.domain.ranking import board_score, points_of

T = TypeVar("T")

_PROJECT = """
local p, emp, team, site, listed = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
for i = 6, #ARGV, 4 do
  local pk, pts, seq, score = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('HSET', p .. 'pts:' .. emp, pk, pts .. ':' .. seq)
  local boards = {p .. 'lb:' .. pk}
  if team ~= '' then table.insert(boards, p .. 'lb:' .. pk .. ':team:' .. team) end
  if site ~= '' then table.insert(boards, p .. 'lb:' .. pk .. ':site:' .. site) end
  for _, board in ipairs(boards) do
    if listed == '1' then
      redis.call('ZADD', board, score, emp)
    else
      redis.call('ZREM', board, emp)
    end
  end
  local groups = {}
  if team ~= '' then
    table.insert(groups, {p .. 'tm:' .. pk .. ':' .. team, p .. 'teams:' .. pk, team})
  end
  if site ~= '' then
    table.insert(groups, {p .. 'sm:' .. pk .. ':' .. site, p .. 'sites:' .. pk, site})
  end
  for _, g in ipairs(groups) do
    local stored = redis.call('HGET', g[1], emp)
    local old = tonumber(stored or '0')
    if listed == '1' then
      local new = tonumber(pts)
      redis.call('HSET', g[1], emp, pts)
      if old ~= new or redis.call('ZSCORE', g[2], g[3]) == false then
        redis.call('ZINCRBY', g[2], new - old, g[3])
      end
    elseif stored then
      redis.call('HDEL', g[1], emp)
      if redis.call('HLEN', g[1]) == 0 then
        redis.call('ZREM', g[2], g[3])
      else
        redis.call('ZINCRBY', g[2], -old, g[3])
      end
    end
  end
end
return 1
"""

_UNPLACE = """
local p, emp, team, site = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
for i = 5, #ARGV do
  local pk = ARGV[i]
  redis.call('ZREM', p .. 'lb:' .. pk, emp)
  if team ~= '' then redis.call('ZREM', p .. 'lb:' .. pk .. ':team:' .. team, emp) end
  if site ~= '' then redis.call('ZREM', p .. 'lb:' .. pk .. ':site:' .. site, emp) end
  local groups = {}
  if team ~= '' then
    table.insert(groups, {p .. 'tm:' .. pk .. ':' .. team, p .. 'teams:' .. pk, team})
  end
  if site ~= '' then
    table.insert(groups, {p .. 'sm:' .. pk .. ':' .. site, p .. 'sites:' .. pk, site})
  end
  for _, g in ipairs(groups) do
    local old = redis.call('HGET', g[1], emp)
    if old then
      redis.call('HDEL', g[1], emp)
      if redis.call('HLEN', g[1]) == 0 then
        redis.call('ZREM', g[2], g[3])
      else
        redis.call('ZINCRBY', g[2], -tonumber(old), g[3])
      end
    end
  end
end
return 1
"""

_ACTIVE = """
local p, emp, new = ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HGET', p .. 'active_of', emp) or ''
if old == new then return 0 end
local function move(value, delta)
  if value == '' then return end
  local tab = string.find(value, '\\t', 1, true)
  local team, site = string.sub(value, 1, tab - 1), string.sub(value, tab + 1)
  if team ~= '' then redis.call('HINCRBY', p .. 'active:team', team, delta) end
  if site ~= '' then redis.call('HINCRBY', p .. 'active:site', site, delta) end
end
move(old, -1)
move(new, 1)
if new == '' then
  redis.call('HDEL', p .. 'active_of', emp)
else
  redis.call('HSET', p .. 'active_of', emp, new)
end
return 1
"""


@dataclass(frozen=True)
class BoardRow:
    """One row of a sorted set: the member and its points."""

    member: str
    points: int


@dataclass(frozen=True)
class GroupTotals:
    """Team (or site) totals and active member counts for one period."""

    totals: dict[str, int]
    active: dict[str, int]


class LeaderboardIndex:
    """Reads and idempotent writes of the Redis leaderboard index."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        # Typed loosely: redis-py's stubs mix the sync and async clients' return types.
        self.client: Any = client
        self.prefix = prefix
        self._project = client.register_script(_PROJECT)
        self._unplace = client.register_script(_UNPLACE)
        self._active = client.register_script(_ACTIVE)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> LeaderboardIndex:
        """An index on the Redis at `url`, its keys under `prefix`."""
        client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        return cls(client, prefix)

    # Writes -------------------------------------------------------------------------

    def write(self, build: Callable[[IndexWriter], None]) -> None:
        """Run `build` against one pipeline, then send it (one round trip)."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=False)
            build(IndexWriter(self, pipe))
            pipe.execute()

    def clear(self) -> None:
        """Delete every key of this index (before a rebuild)."""
        with redis_errors():
            batch: list[str] = []
            for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self.client.unlink(*batch)
                    batch = []
            if batch:
                self.client.unlink(*batch)

    # Reads --------------------------------------------------------------------------

    def board_key(self, period_key: str, scope: str = "global", scope_id: str = "") -> str:
        """The sorted set of one board."""
        if scope == "global":
            return f"{self.prefix}lb:{period_key}"
        return f"{self.prefix}lb:{period_key}:{scope}:{scope_id}"

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
            values = self.client.hmget(f"{self.prefix}pts:{employee_id}", list(period_keys))
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
            values = self.client.hgetall(f"{self.prefix}pts:{employee_id}")
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
                pipe.hkeys(f"{self.prefix}pts:{employee_id}")
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
        plural = "teams" if group == "team" else "sites"
        with redis_errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.zrange(f"{self.prefix}{plural}:{period_key}", 0, -1, withscores=True)
            pipe.hgetall(f"{self.prefix}active:{group}")
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


class IndexWriter:
    """Queues idempotent writes on a pipeline (see `LeaderboardIndex.write`)."""

    def __init__(self, index: LeaderboardIndex, pipe: Any) -> None:
        self._index = index
        self._pipe = pipe

    def project(
        self, employee_id: str, placement: Placement, totals: Iterable[tuple[str, int, int]]
    ) -> None:
        """Set an employee's totals (period key, points, sequence reached) everywhere
        they belong, given their placement."""
        args: list[Any] = [
            self._index.prefix,
            employee_id,
            placement.team,
            placement.site,
            "1" if placement.listed else "0",
        ]
        for period_key, points, sequence in totals:
            args += [period_key, points, sequence, board_score(points, sequence)]
        if len(args) > 5:
            self._index._project(args=args, client=self._pipe)

    def unplace(self, employee_id: str, placement: Placement, period_keys: Iterable[str]) -> None:
        """Take an employee out of the boards and group sums of `placement`."""
        keys = list(period_keys)
        if keys:
            self._index._unplace(
                args=[self._index.prefix, employee_id, placement.team, placement.site, *keys],
                client=self._pipe,
            )

    def directory(self, entry: DirectoryEntry) -> None:
        """Store the directory fields the API reads, and the active member counts."""
        prefix = self._index.prefix
        key = f"{prefix}dir:{entry.employee_id}"
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
        self._index._active(args=[prefix, entry.employee_id, active], client=self._pipe)

    def forget_totals(self, employee_id: str) -> None:
        """Remove an employee's own totals (erasure)."""
        self._pipe.delete(f"{self._index.prefix}pts:{employee_id}")


@contextmanager
def redis_errors() -> Iterator[None]:
    """A Redis outage becomes `InfrastructureError` (HTTP 503, consumer retry)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as error:
        raise InfrastructureError(f"Redis unavailable: {error}") from error
