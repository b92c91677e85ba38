"""Where the badges service gets an employee's email for an Open Badges recipient: the
events service, which keeps personal data (`GET /v1/employees/<id>`).

It is asked when an assertion is first served, not when a badge is awarded: the consumer
then never waits on another service, and the email itself is never stored here, only its
salted hash, fixed at first issue as Open Badges expects."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from cercle_common.errors import InfrastructureError, NotFound
from cercle_common.settings import Settings

TIMEOUT_S = 5.0


class EventsServiceEmails:
    """Looks emails up in the events service's directory, with the service token."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self._base = settings.events_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {settings.service_token}"}
        self._session = session or requests.Session()

    def email_of(self, employee_id: str) -> str:
        """The employee's email; `NotFound` if unknown or without one, `InfrastructureError`
        if the events service does not answer."""
        body = self._get(f"/v1/employees/{quote(employee_id, safe='')}")
        if body is None:
            # Fall back to the batch lookup, which every version of the API has.
            listing = self._get("/v1/employees", params={"ids": employee_id})
            body = _entry_in_listing(listing, employee_id)
        email = _email_in(body)
        if not email:
            raise NotFound(f"employee {employee_id!r} has no email on file", "employee_id")
        return email

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            response = self._session.get(
                self._base + path, params=params, headers=self._headers, timeout=TIMEOUT_S
            )
        except requests.RequestException as error:
            raise InfrastructureError(f"events service unavailable: {error}") from error
        if response.status_code in (404, 405):
            # Unknown employee, or a version of the API without this route.
            return None
        if response.status_code >= 500:
            raise InfrastructureError(f"events service answered {response.status_code}")
        if response.status_code >= 400:
            raise InfrastructureError(f"events service refused the lookup ({response.status_code})")
        try:
            return response.json()
        except ValueError as error:
            raise InfrastructureError("events service answered something not JSON") from error


def _entry_in_listing(listing: Any, employee_id: str) -> Any:
    if not isinstance(listing, dict):
        return None
    entries = listing.get("employees") or listing.get("items") or []
    if isinstance(entries, dict):
        return entries.get(employee_id)
    for entry in entries:
        if isinstance(entry, dict) and entry.get("employee_id", entry.get("id")) == employee_id:
            return entry
    return None


def _email_in(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for candidate in (body, body.get("employee"), body.get("data")):
        if isinstance(candidate, dict) and isinstance(candidate.get("email"), str):
            return str(candidate["email"])
    return None
