"""The per-caller limit of requests in flight, over HTTP: the gateway served by a threaded
server, the rate limit in the real Redis, and a badge catalogue that answers only when
the test releases it, so that requests stay in flight for as long as the test needs."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from werkzeug.serving import make_server

from cercle_common.settings import Settings
from gateway.app import create_app
from gateway.auth import issue_dev_token
from gateway.limits import RedisRateLimiter
from gateway.ports import BadgesPort, Json, Services

WAIT_S = 10.0
CATALOGUE = {"query": "{ badges { id } }"}
NOTHING_TO_CALL = {"query": "{ __typename }"}


class HeldCatalogue(BadgesPort):
    """The badge catalogue, answered once `release` is set; counts who waits for it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.waiting = 0
        self.changed = threading.Condition()
        self.fail_with: Exception | None = None

    def catalogue(self) -> list[Json]:
        with self.changed:
            self.waiting += 1
            self.changed.notify_all()
        if not self.release.wait(WAIT_S):
            raise AssertionError("the test never released the catalogue")
        if self.fail_with is not None:
            raise self.fail_with
        return [{"id": "sharer", "name": {"en": "Ambassador"}, "tiers": []}]

    def wait_for(self, count: int) -> None:
        """Return once `count` requests are waiting for the catalogue."""
        with self.changed:
            assert self.changed.wait_for(lambda: self.waiting >= count, WAIT_S)

    def employee_badges(self, employee_id: str) -> Json:
        raise AssertionError("not used")

    def ready(self) -> None:
        return None


class _EveryoneWorksHere:
    """The directory, asked only whether a token's employee is active."""

    def employees(self, ids: list[str]) -> list[Json]:
        return [{"id": employee_id, "active": True} for employee_id in ids]

    def ready(self) -> None:
        return None


@dataclass
class Gateway:
    """A gateway on a port of its own, and how to call it as an employee."""

    url: str
    settings: Settings
    catalogue: HeldCatalogue

    def post(self, body: Json, employee_id: str | None = None) -> requests.Response:
        headers = {}
        if employee_id is not None:
            headers["Authorization"] = "Bearer " + issue_dev_token(self.settings, employee_id)
        return requests.post(self.url, json=body, headers=headers, timeout=WAIT_S)


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Gateway]:
    """The gateway allowing 2 requests in flight per caller, served over HTTP."""
    settings = Settings.from_env(
        {"env": "dev", "redis_url": settings.redis_url, "gateway_max_in_flight": 2}
    )
    catalogue = HeldCatalogue()
    services = Services(events=_EveryoneWorksHere(), points=None, badges=catalogue)  # type: ignore[arg-type]
    limiter = RedisRateLimiter.from_url(settings.redis_url, 1000)
    app = create_app(settings, services=services, rate_limiter=limiter)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Gateway(f"http://127.0.0.1:{server.server_port}/graphql", settings, catalogue)
    finally:
        catalogue.release.set()
        server.shutdown()
        server.server_close()
        thread.join(WAIT_S)


def _in_flight(
    pool: ThreadPoolExecutor, gateway: Gateway, count: int, employee_id: str | None
) -> list[Future[requests.Response]]:
    """`count` catalogue requests of one caller, held in flight."""
    held = [pool.submit(gateway.post, CATALOGUE, employee_id) for _ in range(count)]
    gateway.catalogue.wait_for(count)
    return held


def test_a_caller_with_two_requests_in_flight_is_refused_the_third_at_once(
    gateway: Gateway,
) -> None:
    caller, bystander = f"e-{uuid.uuid4().hex}", f"e-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(4) as pool:
        held = _in_flight(pool, gateway, 2, caller)
        refused = gateway.post(CATALOGUE, caller)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert refused.json() == {
            "errors": [
                {
                    "message": "too many requests in flight: at most 2 at a time per caller;"
                    " send the next one when one has been answered",
                    "extensions": {"code": "RATE_LIMITED"},
                }
            ]
        }
        # Someone else is served meanwhile.
        assert gateway.post(NOTHING_TO_CALL, bystander).json() == {"data": {"__typename": "Query"}}
        gateway.catalogue.release.set()
        answers = [future.result(WAIT_S) for future in held]
    assert [answer.json() for answer in answers] == [{"data": {"badges": [{"id": "sharer"}]}}] * 2
    # Answered, they free their places.
    assert gateway.post(CATALOGUE, caller).status_code == 200


def test_anonymous_callers_are_counted_by_their_address(gateway: Gateway) -> None:
    with ThreadPoolExecutor(2) as pool:
        held = _in_flight(pool, gateway, 2, None)
        assert gateway.post(NOTHING_TO_CALL).status_code == 429
        gateway.catalogue.release.set()
        assert [future.result(WAIT_S).status_code for future in held] == [200, 200]
    assert gateway.post(NOTHING_TO_CALL).status_code == 200


def test_a_request_that_fails_frees_its_place_too(gateway: Gateway) -> None:
    caller = f"e-{uuid.uuid4().hex}"
    gateway.catalogue.fail_with = RuntimeError("boom")
    with ThreadPoolExecutor(2) as pool:
        held = _in_flight(pool, gateway, 2, caller)
        gateway.catalogue.release.set()
        failed = [future.result(WAIT_S).json() for future in held]
    assert [answer["errors"][0]["extensions"]["code"] for answer in failed] == ["INTERNAL"] * 2
    assert gateway.post(NOTHING_TO_CALL, caller).status_code == 200
