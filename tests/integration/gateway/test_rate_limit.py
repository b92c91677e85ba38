"""The per-caller rate limit against the real Redis: shared by every gateway replica."""

from __future__ import annotations

import uuid
from typing import Any

import redis

from cercle_common.settings import Settings
from gateway.app import create_app
from gateway.auth import issue_dev_token
from gateway.limits import RedisRateLimiter
from gateway.ports import BadgesPort, Json, Services


class _Catalogue(BadgesPort):
    def catalogue(self) -> list[Json]:
        return [{"id": "sharer", "name": {"en": "Ambassador"}, "tiers": []}]

    def employee_badges(self, employee_id: str) -> Json:
        raise AssertionError("not used")

    def ready(self) -> None:
        return None


class _Unused:
    """A service this test never reaches (only its readiness check is registered)."""

    def ready(self) -> None:
        return None


class _EveryoneWorksHere(_Unused):
    """The directory, asked only whether a token's employee is active."""

    def employees(self, ids: list[str]) -> list[Json]:
        return [{"id": employee_id, "active": True} for employee_id in ids]


def _replica(settings: Settings, limit: int) -> Any:
    services = Services(events=_EveryoneWorksHere(), points=_Unused(), badges=_Catalogue())  # type: ignore[arg-type]
    limiter = RedisRateLimiter.from_url(settings.redis_url, limit)
    return create_app(settings, services=services, rate_limiter=limiter).test_client()


def test_two_replicas_share_one_budget_per_caller(settings: Settings) -> None:
    settings = Settings.from_env({"env": "dev", "redis_url": settings.redis_url})
    first, second = _replica(settings, 4), _replica(settings, 4)
    caller = f"e-{uuid.uuid4().hex}"
    other = f"e-{uuid.uuid4().hex}"
    headers = {"Authorization": "Bearer " + issue_dev_token(settings, caller)}
    query = {"query": "{ badges { id } }"}
    statuses = [
        replica.post("/graphql", json=query, headers=headers).status_code
        for replica in (first, second, first, second, first, second)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]
    refused = second.post("/graphql", json=query, headers=headers)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json["errors"][0]["extensions"] == {"code": "RATE_LIMITED"}
    other_headers = {"Authorization": "Bearer " + issue_dev_token(settings, other)}
    assert first.post("/graphql", json=query, headers=other_headers).status_code == 200


def test_the_window_key_expires_so_redis_does_not_fill_up(settings: Settings) -> None:
    limiter = RedisRateLimiter.from_url(settings.redis_url, 10)
    subject = f"it-{uuid.uuid4().hex}"
    limiter.hit(subject)
    client = redis.Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter(f"{limiter.prefix}{subject}:*"))
    assert len(keys) == 1
    assert 0 < client.ttl(keys[0]) <= 2 * limiter.window_s


def test_a_new_window_gives_a_fresh_budget(settings: Settings) -> None:
    now = [1_000_040.0]
    limiter = RedisRateLimiter(
        redis.Redis.from_url(settings.redis_url), limit=2, clock=lambda: now[0]
    )
    subject = f"it-{uuid.uuid4().hex}"
    assert [limiter.hit(subject).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit(subject).retry_after_s == 40
    now[0] += 60
    assert limiter.hit(subject).allowed


def test_redis_down_lets_requests_through(settings: Settings) -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0", limit=1)
    decisions = [limiter.hit("anyone").allowed for _ in range(3)]
    assert decisions == [True, True, True]
