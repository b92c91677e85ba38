"""Limits that keep one caller from exhausting the gateway or the services behind it:
query shape (depth, aliases, total fields, tokens), page size, body size, and a per-caller
request rate shared by every gateway replica through Redis."""

from __future__ import annotations

import abc
import logging
import time
from dataclasses import dataclass
from typing import Any

import redis
from graphql import GraphQLError
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import ValidationRule

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_TOKENS = 3000
MAX_DEPTH = 10
MAX_ALIASES = 20
MAX_FIELDS = 300
MAX_PAGE_SIZE = 100
RATE_WINDOW_S = 60


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
