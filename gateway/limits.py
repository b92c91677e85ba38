"""Limits that keep one caller from exhausting the gateway or the services behind it:
query shape (depth, aliases, total fields, tokens), the estimated work (cost, in
milliseconds), page size, body size, a per-caller request rate shared by every gateway
replica through Redis, and a per-caller number of requests in flight in each process."""

from __future__ import annotations

import abc
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    get_nullable_type,
    is_list_type,
    value_from_ast,
)
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
)
from graphql.validation import ValidationRule

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_TOKENS = 3000
MAX_DEPTH = 10
MAX_ALIASES = 20
MAX_FIELDS = 300
MAX_PAGE_SIZE = 100
MAX_AROUND_RADIUS = 10
MAX_COST = 1000
RATE_WINDOW_S = 60
# What a caller refused for having too many requests in flight is told to wait (s).
IN_FLIGHT_RETRY_AFTER_S = 1

# What resolving a field once costs, in milliseconds of work (the gateway's and the
# services' behind it), by (GraphQL type, field). Measured by `bench/field_costs.py` on the
# bench stack (FerretDB and Redis on 127.0.0.1, 2 cores shared with other stacks), which
# prints its figures beside these weights: rerun it when a service's access path changes.
# The comments give the medians of three runs of 2026-12-03, two rounds each (20,000
# scored employees, badge states for the 2,000 at the head of the board), ms per
# resolution; each weight is about their middle.
FIELD_COSTS: dict[tuple[str, str], float] = {
    ("Query", "me"): 0.0,  # -0.3 to 0.2: the token names the employee, nothing is called
    ("Query", "employee"): 3.5,  # 2.9 to 3.8: one directory call (names are kept 10 s)
    ("Query", "leaderboard"): 6.0,  # 5.0 to 8.7: a page of 10 (pages are kept 1 s)
    ("Query", "teamLeaderboard"): 11.0,  # 9.3 to 14.4
    ("Query", "badges"): 0.5,  # 0.2 to 0.7: the catalogue is kept 30 s
    ("Query", "enps"): 5.0,  # not timed (no survey on the bench stack): a call
    ("Employee", "points"): 3.5,  # 2.9 to 4.0
    ("Employee", "rank"): 4.5,  # 4.0 to 5.1
    # One call to the badges service per employee: 219 to 388 on FerretDB, which reads
    # every stored state version to find the employee's (it grows with the number of
    # states; on MongoDB an index serves it). `badges` and `badgeProgress` share that call.
    ("Employee", "badges"): 250.0,
    ("Employee", "badgeProgress"): 250.0,  # 183 to 266
    ("Employee", "ledger"): 4.5,  # 3.9 to 4.9: a page of 20
    ("LeaderboardConnection", "aroundMe"): 5.0,  # 4.3 to 5.9
}
# Fields answered from one call: selected side by side, they pay it once.
SHARED_CALLS: dict[tuple[str, str], str] = {
    ("Employee", "badges"): "employee badges",
    ("Employee", "badgeProgress"): "employee badges",
}
# What each entry of a page adds to the call that fetches it, read or not: 0.11 to 0.17.
PAGE_ENTRY_COSTS: dict[tuple[str, str], float] = {
    ("Query", "leaderboard"): 0.12,
    ("Query", "teamLeaderboard"): 0.12,  # not timed apart: taken as the employees' board's
}
# A field read from an answer already fetched, or from per-request memory (the names of a
# page come from one batched directory call): graphql-core executing it. 0.012 to 0.016.
RESOLVED_FIELD_COST = 0.015
# A mutation: one call to the events service, which writes (not timed by the bench).
MUTATION_COST = 5.0


def query_limits_rule(max_aliases: int = MAX_ALIASES, max_fields: int = MAX_FIELDS) -> type:
    """A validation rule refusing operations with more than `max_aliases` aliases or more
    than `max_fields` fields once fragments are expanded (so a fragment spread ten times
    counts ten times). Run it after the standard rules: they refuse fragment cycles."""

    class QueryLimits(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                d.name.value: d
                for d in self.context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            count = _Count()
            _walk(node.selection_set, fragments, count, max_fields)
            name = node.name.value if node.name else "anonymous"
            if count.aliases > max_aliases:
                self.report_error(
                    GraphQLError(
                        f"operation '{name}' uses {count.aliases} aliases;"
                        f" at most {max_aliases} are allowed",
                        node,
                    )
                )
            if count.fields > max_fields:
                self.report_error(
                    GraphQLError(
                        f"operation '{name}' selects more than {max_fields} fields",
                        node,
                    )
                )

    return QueryLimits


def query_cost_rule(max_cost: int = MAX_COST) -> type:
    """A validation rule refusing operations estimated to cost more than `max_cost`
    milliseconds of work. Each field costs its weight (`FIELD_COSTS`, `MUTATION_COST`,
    else `RESOLVED_FIELD_COST`) each time it is resolved; the lists under a paged field
    (`first`, or `aroundMe(radius)`: 2 * radius + 1 entries) multiply what their items
    cost by that page size. A page size given as a variable counts as the largest one
    allowed: validation runs once per query text, before the variables are known. The
    estimate is rounded up to a whole millisecond."""

    class QueryCost(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            schema = self.context.schema
            root = (
                schema.mutation_type
                if node.operation == OperationType.MUTATION
                else schema.query_type
            )
            if root is None:
                return
            fragments = {
                d.name.value: d
                for d in self.context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            estimate = _CostEstimate(schema, fragments).of(node.selection_set, root, 1)
            cost = math.ceil(round(estimate, 6))
            if cost > max_cost:
                name = node.name.value if node.name else "anonymous"
                self.report_error(
                    GraphQLError(
                        f"operation '{name}' would cost about {cost} ms of work;"
                        f" at most {max_cost} are allowed: ask for smaller pages or fewer"
                        " fields per entry",
                        node,
                        extensions={"cost": cost, "maxCost": max_cost},
                    )
                )

    return QueryCost


class _CostEstimate:
    """The work an operation would cost at most (ms). A fragment's cost is computed once
    per (fragment, type, page size): spreading it many times does not walk it again."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments
        self.mutation = schema.mutation_type.name if schema.mutation_type else None
        self.known: dict[tuple[str, str, int], float] = {}

    def of(self, selection_set: SelectionSetNode, parent: GraphQLObjectType, items: int) -> float:
        """What `selection_set` costs on `parent`, where lists hold `items` entries."""
        total = 0.0
        calls: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                call = SHARED_CALLS.get((parent.name, selection.name.value))
                total += self._field(selection, parent, items, paid=call in calls)
                if call is not None:
                    calls.add(call)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                if isinstance(target, GraphQLObjectType):
                    total += self.of(selection.selection_set, target, items)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, items)
        return total

    def _fragment(self, name: str, items: int) -> float:
        fragment = self.fragments.get(name)
        if fragment is None:
            return 0.0
        target = self.schema.get_type(fragment.type_condition.name.value)
        if not isinstance(target, GraphQLObjectType):
            return 0.0
        key = (name, target.name, items)
        if key not in self.known:
            self.known[key] = 0.0  # a cycle (refused by the standard rules) adds nothing
            self.known[key] = self.of(fragment.selection_set, target, items)
        return self.known[key]

    def _field(
        self, node: FieldNode, parent: GraphQLObjectType, items: int, paid: bool = False
    ) -> float:
        """What `node` costs; `paid`: a sibling already pays the call it is answered from."""
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 0.0  # __typename, or a field the standard rules refused
        own = RESOLVED_FIELD_COST if paid else self._weight(parent.name, node.name.value)
        child = get_named_type(definition.type)
        if node.selection_set is None or not isinstance(child, GraphQLObjectType):
            return own
        page = _page_size(node, definition)
        if page is not None:
            items = page
            own += page * PAGE_ENTRY_COSTS.get((parent.name, node.name.value), 0.0)
        if is_list_type(get_nullable_type(definition.type)):
            # Each entry of the list costs what its selection costs.
            return own + items * self.of(node.selection_set, child, 1)
        return own + self.of(node.selection_set, child, items)

    def _weight(self, parent: str, field: str) -> float:
        if parent == self.mutation:
            return MUTATION_COST
        return FIELD_COSTS.get((parent, field), RESOLVED_FIELD_COST)


def _page_size(node: FieldNode, definition: GraphQLField) -> int | None:
    """How many entries a paged field asks for: `first`, or 2 * `radius` + 1 around the
    caller; None for a field without pages."""
    given = {argument.name.value: argument.value for argument in node.arguments}
    if "first" in definition.args:
        return _int_argument(given, definition, "first", MAX_PAGE_SIZE)
    if "radius" in definition.args:
        return 2 * _int_argument(given, definition, "radius", MAX_AROUND_RADIUS) + 1
    return None


def _int_argument(
    given: dict[str, ValueNode], definition: GraphQLField, name: str, most: int
) -> int:
    """The argument as the resolver will see it, within [0, most]: the schema's default
    when absent or null, and `most` when it is a variable (unknown at validation)."""
    default = definition.args[name].default_value
    value = value_from_ast(given[name], GraphQLInt, None) if name in given else None
    if value is Undefined:
        return most
    if value is None:
        value = default if isinstance(default, int) else most
    return max(0, min(int(value), most))


# The standard introspection query (GraphiQL's) nests 15 fields deep, its `ofType` chain.
MAX_INTROSPECTION_DEPTH = 16
SCHEMA_INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


class NoSchemaIntrospection(ValidationRule):
    """Production: refuse `__schema` and `__type` (the schema stays private), but let
    `__typename` through, which Apollo and Relay add to every selection."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value in SCHEMA_INTROSPECTION_FIELDS:
            self.report_error(
                GraphQLError(f"Cannot query '{node.name.value}': introspection is disabled.", node)
            )


def introspection_depth_rule(max_depth: int = MAX_INTROSPECTION_DEPTH) -> type:
    """A validation rule refusing `__schema` / `__type` selections nested deeper than
    `max_depth` (graphene's depth rule skips introspection fields, so without this a
    deep `ofType { ofType { ... } }` would go unchecked). Run it once the query is known
    to be small: it expands fragments."""

    class IntrospectionDepth(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                d.name.value: d
                for d in self.context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            depth = _introspection_depth(node.selection_set, fragments, max_depth)
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"introspection nested {depth} deep; at most {max_depth} is allowed",
                        node,
                    )
                )

    return IntrospectionDepth


def _introspection_depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    limit: int,
    depth: int = 0,
) -> int:
    """How deep the fields under an introspection field go (`depth`: how deep inside one
    this selection set is, 0 outside); stops looking once past `limit`."""
    deepest = depth
    for field in _fields_of(selection_set, fragments):
        inside = depth > 0 or field.name.value in SCHEMA_INTROSPECTION_FIELDS
        below = depth + 1 if inside else 0
        deepest = max(deepest, below)
        if deepest <= limit:
            deepest = max(
                deepest, _introspection_depth(field.selection_set, fragments, limit, below)
            )
        if deepest > limit:
            break
    return deepest


def _fields_of(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """The fields of a selection set, with its fragments (inline or spread) opened."""
    fields: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            fields.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            fields += _fields_of(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            fields += _fields_of(fragment.selection_set if fragment else None, fragments)
    return fields


@dataclass
class _Count:
    fields: int = 0
    aliases: int = 0


def _walk(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    count: _Count,
    max_fields: int,
) -> None:
    if selection_set is None or count.fields > max_fields:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count.fields += 1
            if selection.alias is not None:
                count.aliases += 1
            _walk(selection.selection_set, fragments, count, max_fields)
        elif isinstance(selection, InlineFragmentNode):
            _walk(selection.selection_set, fragments, count, max_fields)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                _walk(fragment.selection_set, fragments, count, max_fields)
        if count.fields > max_fields:
            return


@dataclass(frozen=True)
class RateDecision:
    """Whether a request may go on, and when the caller may try again if not."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


class RateLimiter(abc.ABC):
    """Counts a caller's requests in the current window."""

    @abc.abstractmethod
    def hit(self, subject: str) -> RateDecision:
        """Count one request of `subject` and say whether it is within the limit."""


class RedisRateLimiter(RateLimiter):
    """A fixed window per caller in Redis, so every gateway replica counts in the same
    place. If Redis is down the gateway keeps answering (fails open) and logs it: losing
    the limit for a while is better than losing the API."""

    def __init__(
        self,
        client: redis.Redis,
        limit: int,
        window_s: int = RATE_WINDOW_S,
        prefix: str = "cercle:gateway:rate:",
        clock: Any = time.time,
    ) -> None:
        self.client = client
        self.limit = limit
        self.window_s = window_s
        self.prefix = prefix
        self.clock = clock

    @classmethod
    def from_url(cls, url: str, limit: int) -> RedisRateLimiter:
        """A limiter on the Redis at `url`; connects on first use, with short timeouts."""
        client = redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3)
        return cls(client, limit)

    def hit(self, subject: str) -> RateDecision:
        now = self.clock()
        window = int(now // self.window_s)
        key = f"{self.prefix}{subject}:{window}"
        retry_after = max(1, int((window + 1) * self.window_s - now))
        try:
            pipeline = self.client.pipeline(transaction=True)
            pipeline.set(key, 0, ex=self.window_s * 2, nx=True)
            pipeline.incr(key)
            _, count = pipeline.execute()
        except redis.RedisError as error:
            log.warning("rate limit not enforced: Redis unavailable", extra={"error": repr(error)})
            return RateDecision(True, self.limit, self.limit, 0)
        remaining = max(self.limit - int(count), 0)
        return RateDecision(int(count) <= self.limit, self.limit, remaining, retry_after)


class InFlightLimiter:
    """At most `limit` requests of each caller in flight in this process at once. Counted
    per process on purpose: what it protects is this process's threads, so that a few
    callers running costly queries cannot hold all of them, and it costs no round trip.
    A caller over it is refused at once rather than queued: a queue would hold a thread
    for them as surely as a request does."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, subject: str) -> bool:
        """Count one more request of `subject` in flight; False, counting nothing, when it
        already has `limit` of them."""
        with self._lock:
            count = self._in_flight.get(subject, 0)
            if count >= self.limit:
                return False
            self._in_flight[subject] = count + 1
            return True

    def leave(self, subject: str) -> None:
        """One request of `subject` has been answered."""
        with self._lock:
            count = self._in_flight.get(subject, 0) - 1
            if count > 0:
                self._in_flight[subject] = count
            else:
                self._in_flight.pop(subject, None)
