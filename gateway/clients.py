"""HTTP adapters of the ports: one connection pool per service (urllib3: the gateway's
calls are on every request's path, and requests' per-call bookkeeping costs about half a
millisecond more), short timeouts, and the services' answers translated into Cercle
errors.

Every call presents `SERVICE_TOKEN` as its bearer token (the services refuse calls
without it); the admin calls (points corrections, directory writes and the names of
private profiles) present `ADMIN_TOKEN` instead.

A 4xx from a service is the caller's problem and keeps its message and field; anything
else (timeout, refused connection, 5xx, a body that is not JSON) becomes
`ServiceUnavailable`, whose message names the service and never its address."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from prometheus_client import Histogram
from urllib3.exceptions import HTTPError

from cercle_common.errors import (
    CercleError,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from cercle_common.settings import Settings
from gateway.ports import (
    BadgesPort,
    BoardQuery,
    EventsPort,
    Json,
    PointsPort,
    Services,
    ServiceUnavailable,
)

log = logging.getLogger(__name__)

# Connecting to a service on the cluster network takes well under a millisecond: a slow
# connect means it is down, and failing fast lets the rest of a query be answered.
CONNECT_TIMEOUT_S = 0.5
READ_TIMEOUT_S = 3.0
READY_TIMEOUT_S = 1.0
# Badge definitions are YAML in the badges service's repository: they change on deploys.
CATALOGUE_TTL_S = 30.0
# Names on a board are the same for every caller: kept briefly, they cost no call. A change
# of name or visibility shows within this delay (the boards themselves follow the points
# service's copy of the directory, which is eventually consistent too).
DIRECTORY_TTL_S = 10.0
DIRECTORY_CACHE_MAX = 50_000
# Every caller asks for the same top of the same boards: a page is reused for a second.
# The boards themselves trail the events by the consumers' lag, which is longer.
BOARD_PAGE_TTL_S = 1.0

SERVICE_CALLS = Histogram(
    "cercle_gateway_service_call_seconds",
    "Calls from the gateway to a service, by outcome (ok, refused, unavailable)",
    ["service", "outcome"],
)

_CLIENT_ERRORS: dict[int, type[CercleError]] = {
    400: ValidationError,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationError,
}


class ServiceClient:
    """JSON over HTTP to one service, presenting `service_token` unless a call names
    another bearer token."""

    def __init__(
        self,
        service: str,
        base_url: str,
        service_token: str,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.service_token = service_token
        self.read_timeout_s = read_timeout_s
        # Gunicorn's sync workers close each connection; a pool still bounds them, and
        # serves keep-alive where the service has it. No retries: failing fast lets the
        # rest of a query be answered.
        # As many connections per service as a gateway process has threads (gunicorn's 32).
        self.pool = urllib3.PoolManager(maxsize=32, retries=False)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Json:
        """GET a JSON object."""
        return self.request("GET", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Json | None = None,
        bearer: str | None = None,
        timeout: float | None = None,
    ) -> Json:
        """Send one request and return its JSON object, or raise a Cercle error."""
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {bearer or self.service_token}",
        }
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        if params:
            url += "?" + urlencode(params)
        started = time.perf_counter()
        outcome = "unavailable"
        try:
            response = self.pool.request(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=urllib3.Timeout(
                    connect=CONNECT_TIMEOUT_S, read=timeout or self.read_timeout_s
                ),
            )
            answer = self._answer(response.status, response.data, path)
            outcome = "ok"
            return answer
        except (HTTPError, OSError) as error:
            log.warning(
                "service call failed",
                extra={"service": self.service, "path": path, "error": repr(error)},
            )
            raise ServiceUnavailable(self.service) from error
        except ServiceUnavailable:
            raise
        except CercleError:
            outcome = "refused"
            raise
        finally:
            SERVICE_CALLS.labels(self.service, outcome).observe(time.perf_counter() - started)

    def _answer(self, status: int, data: bytes, path: str) -> Json:
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        if 200 <= status < 300 and isinstance(payload, dict):
            return payload
        error_class = _CLIENT_ERRORS.get(status)
        if error_class is not None:
            message, field = _error_of(payload)
            raise error_class(message, field)
        log.warning(
            "service answered with an error",
            extra={"service": self.service, "path": path, "status": status},
        )
        raise ServiceUnavailable(self.service)

    def ready(self) -> None:
        """Raises unless the service's `/readyz` answers 200."""
        self.request("GET", "/readyz", timeout=READY_TIMEOUT_S)


class HttpEvents(EventsPort):
    """The events service over HTTP; directory entries are kept for a few seconds."""

    def __init__(
        self, client: ServiceClient, admin_token: str, directory_ttl_s: float = DIRECTORY_TTL_S
    ) -> None:
        self.client = client
        self.admin_token = admin_token
        self.directory_ttl_s = directory_ttl_s
        self._directory: dict[str, tuple[float, Json | None]] = {}
        self._lock = threading.Lock()

    def record_event(self, envelope: Json) -> Json:
        return self.client.request("POST", "/v1/events", body=envelope)

    def record_admin_event(self, envelope: Json) -> Json:
        return self.client.request(
            "POST", "/v1/admin/events", body=envelope, bearer=self.admin_token
        )

    def upsert_employee(self, employee_id: str, record: Json) -> Json:
        with self._lock:
            self._directory.pop(employee_id, None)
        return self.client.request(
            "PUT", f"/v1/employees/{_segment(employee_id)}", body=record, bearer=self.admin_token
        )

    def employees(self, ids: Sequence[str]) -> list[Json]:
        now = time.monotonic()
        known: dict[str, Json | None] = {}
        with self._lock:
            for employee_id in ids:
                cached = self._directory.get(employee_id)
                if cached is not None and now - cached[0] < self.directory_ttl_s:
                    known[employee_id] = cached[1]
        missing = [i for i in ids if i not in known]
        if missing:
            fetched = {e.get("id"): e for e in self._fetch_employees(missing)}
            with self._lock:
                if len(self._directory) + len(missing) > DIRECTORY_CACHE_MAX:
                    self._directory.clear()
                for employee_id in missing:
                    known[employee_id] = fetched.get(employee_id)
                    self._directory[employee_id] = (now, known[employee_id])
        return [entry for i in ids if (entry := known.get(i)) is not None]

    def _fetch_employees(self, ids: Sequence[str]) -> list[Json]:
        # Names are personal data: the gateway asks as the platform, not as the caller.
        answer = self.client.request(
            "GET", "/v1/employees", params={"ids": ",".join(ids)}, bearer=self.admin_token
        )
        employees = answer.get("employees")
        return [e for e in employees if isinstance(e, dict)] if isinstance(employees, list) else []

    def enps(
        self,
        survey_id: str,
        team: str | None,
        site: str | None,
        start: date | None,
        end: date | None,
    ) -> Json:
        params = {
            "team": team,
            "site": site,
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
        }
        return self.client.get(
            f"/v1/surveys/{_segment(survey_id)}/enps",
            params={k: v for k, v in params.items() if v is not None},
        )

    def ready(self) -> None:
        self.client.ready()


class ShortLivedCache:
    """Answers kept for `ttl_s` seconds by key (at most `size` of them), so that a burst
    of identical reads costs one call."""

    def __init__(self, ttl_s: float, size: int = 256) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._entries: dict[Any, tuple[float, Json]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, fetch: Callable[[], Json]) -> Json:
        """The answer kept for `key`, or `fetch()`'s (kept for next time)."""
        now = time.monotonic()
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and now - kept[0] < self.ttl_s:
                return kept[1]
        answer = fetch()
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = (now, answer)
        return answer


class HttpPoints(PointsPort):
    """The points service over HTTP; board pages are kept for a second."""

    def __init__(self, client: ServiceClient, page_ttl_s: float = BOARD_PAGE_TTL_S) -> None:
        self.client = client
        self.pages = ShortLivedCache(page_ttl_s)

    def leaderboard(self, board: BoardQuery, first: int, after: str | None) -> Json:
        params: dict[str, Any] = {**board.params(), "first": first}
        if after is not None:
            params["after"] = after
        return self.pages.get(
            ("employees", *sorted(params.items())),
            lambda: self.client.get("/v1/leaderboards/employees", params=params),
        )

    def around(self, employee_id: str, board: BoardQuery, radius: int) -> Json:
        return self.client.get(
            f"/v1/leaderboards/employees/around/{_segment(employee_id)}",
            params={**board.params(), "radius": radius},
        )

    def team_leaderboard(
        self, period: str, at: date | None, normalize: str, first: int, after: str | None
    ) -> Json:
        params: dict[str, Any] = {"period": period, "normalize": normalize, "first": first}
        if at is not None:
            params["at"] = at.isoformat()
        if after is not None:
            params["after"] = after
        return self.pages.get(
            ("teams", *sorted(params.items())),
            lambda: self.client.get("/v1/leaderboards/teams", params=params),
        )

    def employee_points(self, employee_id: str) -> Json:
        return self.client.get(f"/v1/employees/{_segment(employee_id)}/points")

    def ledger(self, employee_id: str, first: int, after: str | None) -> Json:
        params: dict[str, Any] = {"first": first}
        if after is not None:
            params["after"] = after
        return self.client.get(f"/v1/employees/{_segment(employee_id)}/ledger", params=params)

    def ready(self) -> None:
        self.client.ready()


class HttpBadges(BadgesPort):
    """The badges service over HTTP; the catalogue is kept for a few seconds."""

    def __init__(self, client: ServiceClient, catalogue_ttl_s: float = CATALOGUE_TTL_S) -> None:
        self.client = client
        self.kept = ShortLivedCache(catalogue_ttl_s, size=1)

    def catalogue(self) -> list[Json]:
        badges = self.kept.get("catalogue", lambda: self.client.get("/v1/badges")).get("badges")
        return [b for b in badges if isinstance(b, dict)] if isinstance(badges, list) else []

    def employee_badges(self, employee_id: str) -> Json:
        return self.client.get(f"/v1/employees/{_segment(employee_id)}/badges")

    def ready(self) -> None:
        self.client.ready()


def http_services(settings: Settings) -> Services:
    """The HTTP adapters for the services named in `settings` (nothing connects yet)."""
    token = settings.service_token
    return Services(
        events=HttpEvents(
            ServiceClient("events", settings.events_url, token), settings.admin_token
        ),
        points=HttpPoints(ServiceClient("points", settings.points_url, token)),
        badges=HttpBadges(ServiceClient("badges", settings.badges_url, token)),
    )


def _segment(identifier: str) -> str:
    return quote(identifier, safe="")


def _error_of(payload: Any) -> tuple[str, str | None]:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        message = error.get("message")
        field = error.get("field")
        return (
            message if isinstance(message, str) else "rejected",
            field if isinstance(field, str) else None,
        )
    return "rejected", None
