"""`python -m services.events.entrypoints.consumer`: events from internal tools, each on its own
inbound topic (`cercle.inbound.<tool>.v1`, which only that tool's Kafka principal may
write): the topic says which source speaks, and a `source` in the message may only repeat it.

Each message goes through exactly the same acceptance as an HTTP request; HR directory
sync (`employee.upserted`, `employee.erased`, from the `directory` source only) goes to the
directory. Anything refused (not UTF-8, not JSON, wrong shape, too big, unknown employee,
`points.adjusted`, a source that may not send the type, a course, survey or content not in
the catalogue, an id already accepted with other content) goes to `cercle.deadletter.v1`
with its original bytes and the reason; the consumer goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
from collections.abc import Sequence
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
from cercle_common.topics import INBOUND_TOPICS, TOOL_OF_INBOUND_TOPIC
from services.events import bootstrap
from services.events.adapters.event_store import EventStore
from services.events.domain.directory import parse_record
from services.events.domain.events import (
    ADMIN_ONLY_TYPES,
    MAX_EVENT_BYTES,
    check_envelope_fields,
    check_not_in_future,
)
from services.events.domain.trust import KAFKA, check_source_may_send, source_spoken
from services.events.handlers import Directory, Ingestion

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
                self._directory_change(body, tool_of(record))
            except Exception as error:
                if is_infrastructure_failure(error):
                    raise
                rejected.append(Rejection(record, error))
        rejected += self._accept(actions)
        # In the order of the records, as one by one.
        position = {id(record): n for n, record in enumerate(records)}
        return sorted(rejected, key=lambda rejection: position[id(rejection.record)])

    def _accept(self, actions: list[tuple[Record, dict[str, Any]]]) -> list[Rejection]:
        # One accept_many per run of records from one topic (one speaking tool).
        rejected: list[Rejection] = []
        for topic, run in itertools.groupby(actions, key=lambda action: action[0].topic):
            same_tool = list(run)
            outcomes = self.ingestion.accept_many(
                [body for _, body in same_tool], path="kafka", speaks_for=(tool_of_topic(topic),)
            )
            rejected += [
                Rejection(record, outcome.error)
                for (record, _), outcome in zip(same_tool, outcomes, strict=True)
                if outcome.error is not None
            ]
        return rejected

    def _directory_change(self, body: dict[str, Any], tool: str) -> None:
        # Only the HR directory changes who works here (actions are judged by the same
        # table inside the ingestion).
        body = {**body, "source": source_spoken(body.get("source"), (tool,))}
        check_source_may_send(body["source"], str(body["type"]), KAFKA)
        check_envelope_fields(body)
        envelope = Envelope.from_dict(body)
        check_not_in_future(envelope.occurred_at, self.ingestion.clock())
        if envelope.type == EMPLOYEE_UPSERTED:
            self.directory.save(envelope.employee_id, parse_record(envelope.data, "data."))
            return
        # Erasing someone the directory never knew leaves nothing to do.
        with contextlib.suppress(NotFound):
            self.directory.erase(envelope.employee_id)


def tool_of(record: Record) -> str:
    """The tool whose inbound topic `record` came from."""
    return tool_of_topic(record.topic)


def tool_of_topic(topic: str) -> str:
    """The tool an inbound topic belongs to (the consumer reads only those topics)."""
    tool = TOOL_OF_INBOUND_TOPIC.get(topic)
    if tool is None:
        raise AssertionError(f"{topic} is not an inbound topic")
    return tool


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
    components = bootstrap.build(settings, store=store)
    handler = InboundHandler(components.ingestion, components.directory)
    topics = list(INBOUND_TOPICS.values())
    return ConsumerLoop(settings, group, topics, handler.handle_batch, **options)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    argparse.ArgumentParser(
        prog="python -m services.events.entrypoints.consumer",
        description=(
            "Accept the internal tools' events from their inbound topics (group "
            f"{GROUP}); dead-letter what is refused."
        ),
    ).parse_args(argv)
    settings = Settings.from_env()
    store = EventStore.connect(settings)
    loop = build_loop(settings, GROUP, store)
    run_consumer("events-inbound", settings, loop, {"mongo": store.ping})
    return 0


if __name__ == "__main__":
    sys.exit(main())
