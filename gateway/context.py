"""What every resolver of one request sees: the caller, the services, and per-request
memory so that a list is fetched with one call and the same data is never asked twice."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cercle_common.errors import CercleError, Forbidden, Unauthorized
from gateway.auth import Caller
from gateway.ports import EventsPort, Json, Services

T = TypeVar("T")


class DirectoryLoader:
    """Batches directory look-ups: list resolvers announce the ids they hold with `want`,
    and the first `get` fetches every announced id in ONE call. A failure is remembered
    for the request, so a service that is down is asked once, not once per field."""

    def __init__(self, events: EventsPort) -> None:
        self.events = events
        self.calls = 0
        self._pending: set[str] = set()
        self._known: dict[str, Json | None] = {}
        self._failure: CercleError | None = None

    def want(self, ids: Iterable[str | None]) -> None:
        """Announce ids that will be read in this request."""
        self._pending.update(i for i in ids if i is not None and i not in self._known)

    def get(self, employee_id: str) -> Json | None:
        """The directory entry of `employee_id`, or None if it is unknown or erased."""
        if employee_id not in self._known:
            if self._failure is not None:
                raise self._failure
            self._pending.add(employee_id)
            batch = sorted(self._pending)
            self._pending.clear()
            self.calls += 1
            try:
                found = {e.get("id"): e for e in self.events.employees(batch)}
            except CercleError as error:
                self._failure = error
                raise
            for wanted in batch:
                self._known[wanted] = found.get(wanted)
        return self._known[employee_id]


@dataclass
class RequestContext:
    """The context value of one GraphQL execution."""

    services: Services
    caller: Caller | None
    lang: str = "en"
    # Anonymous callers may read public data in development only (see `gateway.app`).
    directory: DirectoryLoader = field(init=False)
    _memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.directory = DirectoryLoader(self.services.events)

    def require_caller(self) -> Caller:
        """The authenticated caller, or `Unauthorized`."""
        if self.caller is None:
            raise Unauthorized("sign in first: this needs a bearer token")
        return self.caller

    def require_admin(self) -> Caller:
        """The authenticated caller if they hold the admin role, or `Forbidden`."""
        caller = self.require_caller()
        if not caller.is_admin:
            raise Forbidden("this needs the admin role")
        return caller

    def sees_all_of(self, employee_id: str | None) -> bool:
        """True when the caller is that employee, or an admin."""
        return self.caller is not None and self.caller.may_see_all_of(employee_id)

    def once(self, key: tuple[Any, ...], fetch: Callable[[], T]) -> T:
        """`fetch()` the first time `key` is asked in this request, the same answer after."""
        if key not in self._memo:
            self._memo[key] = fetch()
        value: T = self._memo[key]
        return value
