"""`python -m services.events.consumer`: events from internal tools on `cercle.inbound.v1`.

Each message goes through exactly the same acceptance as an HTTP request; HR directory
sync (`employee.upserted`, `employee.erased`, from the `directory` source only) goes to the
directory. Anything refused (not UTF-8, not JSON, wrong shape, too big, unknown employee,
`points.adjusted`, a source that may not send the type, a course, survey or content not in
the catalogue, an id already accepted with other content) goes to `cercle.deadletter.v1`
with its original bytes and the reason; the consumer goes on.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from cercle_common.envelope import EMPLOYEE_ERASED, EMPLOYEE_UPSERTED, Envelope, decode_json_object
from cercle_common.errors import Forbidden, MalformedRequest, NotFound, PayloadTooLarge
from cercle_common.messaging import (
    ConsumerLoop,
    Record,
    Rejection,
    is_infrastructure_failure,
    run_consumer,
)
from cercle_common.settings import Settings
from cercle_common.topics import INBOUND
from services.events.directory import Directory
from services.events.domain.directory import parse_record
from services.events.domain.events import (
    ADMIN_ONLY_TYPES,
    MAX_EVENT_BYTES,
    check_envelope_fields,
    check_not_in_future,
)
from services.events.domain.trust import KAFKA, check_source_may_send
from services.events.ingest import Ingestion, utc_now
from services.events.known_employees import KnownEmployees
from services.events.store import EventStore

GROUP = "cercle-events-inbound"


class InboundHandler:
    """Handles inbound records a poll at a time: the actions of a poll go through one
    `accept_many` (one bulk insert), directory changes in their place between them, so
    that an action after a hire in the same poll sees the hire."""

    def __init__(self, ingestion: Ingestion, directory: Directory) -> None:
        self.ingestion = ingestion
        self.directory = directory

    def __call__(self, record: Record) -> None:
        """One record; raises a `CercleError` to dead-letter it."""
        for rejection in self.handle_batch([record]):
            raise rejection.error

    def handle_batch(self, records: Sequence[Record]) -> list[Rejection]:
        """Apply a poll's records in order; returns the ones refused, with the reason."""
        rejected: list[Rejection] = []
        actions: list[tuple[Record, dict[str, Any]]] = []
        for record in records:
            try:
                body = _decoded(record)
                if body.get("type") not in (EMPLOYEE_UPSERTED, EMPLOYEE_ERASED):
                    actions.append((record, body))
                    continue
                rejected += self._accept(actions)
                actions = []
                self._directory_change(body)
            except Exception as error:
                if is_infrastructure_failure(error):
                    raise
                rejected.append(Rejection(record, error))
        rejected += self._accept(actions)
        # In the order of the records, as one by one.
        position = {id(record): n for n, record in enumerate(records)}
        return sorted(rejected, key=lambda rejection: position[id(rejection.record)])

    def _accept(self, actions: list[tuple[Record, dict[str, Any]]]) -> list[Rejection]:
        if not actions:
            return []
        outcomes = self.ingestion.accept_many([body for _, body in actions], path="kafka")
        return [
            Rejection(record, outcome.error)
            for (record, _), outcome in zip(actions, outcomes, strict=True)
            if outcome.error is not None
        ]

    def _directory_change(self, body: dict[str, Any]) -> None:
        # Only the HR directory changes who works here (actions are judged by the same
        # table inside the ingestion).
        check_source_may_send(body.get("source"), str(body["type"]), KAFKA)
        check_envelope_fields(body)
        envelope = Envelope.from_dict(body)
        check_not_in_future(envelope.occurred_at, self.ingestion.clock())
        if envelope.type == EMPLOYEE_UPSERTED:
            self.directory.save(envelope.employee_id, parse_record(envelope.data, "data."))
            return
        # Erasing someone the directory never knew leaves nothing to do.
        with contextlib.suppress(NotFound):
            self.directory.erase(envelope.employee_id)


def _decoded(record: Record) -> dict[str, Any]:
    if record.value is None:
        raise MalformedRequest("empty message (null value)")
    if len(record.value) > MAX_EVENT_BYTES:
        raise PayloadTooLarge(f"an event may be at most {MAX_EVENT_BYTES} bytes")
    body = decode_json_object(record.value)
    event_type = body.get("type")
    if event_type in ADMIN_ONLY_TYPES:
        raise Forbidden(f"{event_type} is accepted from the admin HTTP path only", "type")
    return body


def build_loop(
    settings: Settings, group: str = GROUP, store: EventStore | None = None, **options: object
) -> ConsumerLoop:
    """The inbound consumer loop (tests give their own group and store)."""
    store = store or EventStore.connect(settings)
    max_age = timedelta(days=settings.event_max_age_days)
    known = KnownEmployees(store)
    handler = InboundHandler(
        Ingestion(store, utc_now, max_age, known), Directory(store, utc_now, known)
    )
    return ConsumerLoop(settings, group, [INBOUND], handler.handle_batch, **options)  # type: ignore[arg-type]


def main() -> int:
    """Command line entry point."""
    settings = Settings.from_env()
    store = EventStore.connect(settings)
    loop = build_loop(settings, GROUP, store)
    run_consumer("events-inbound", settings, loop, {"mongo": store.ping})
    return 0


if __name__ == "__main__":
    sys.exit(main())
