"""The door at scale: accepting a new event sends inserts only, so that its cost does not
grow with the events stored (on the local server a read that misses reads the whole
collection). Only a re-send, refused by the unique `_id`, reads what was there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from cercle_common.errors import InfrastructureError
from cercle_common.settings import Settings
from services.events.adapters.event_store import EventStore
from services.events.handlers import Ingestion
from tests.integration.events.conftest import share

TRACKER = ("social-tracker",)  # the credential the shares speak with


class CommandLog(monitoring.CommandListener):
    """The commands a client sends: (name, collection, filter of a find)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in ("insert", "find", "update", "delete", "aggregate", "count"):
            command = event.command
            self.commands.append((name, command[name], command.get("filter")))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def watched(settings: Settings, store: EventStore) -> Iterator[tuple[Ingestion, CommandLog]]:
    """A door over the test's database whose every command is logged."""
    log = CommandLog()
    client: MongoClient = MongoClient(settings.mongo_url, event_listeners=[log], tz_aware=True)
    ingestion = Ingestion(EventStore(client[store.db.name]))
    yield ingestion, log
    client.close()


def test_accepting_new_events_sends_one_insert_per_collection_and_no_read(
    watched, new_employee
) -> None:
    ingestion, log = watched
    employee = new_employee()
    ingestion.accept(
        share(employee), path="http", speaks_for=TRACKER
    )  # loads the copies of directory and catalogue
    log.commands.clear()

    outcomes = ingestion.accept_many(
        [share(employee) for _ in range(20)], path="http_batch", speaks_for=TRACKER
    )

    assert [outcome.status for outcome in outcomes] == [201] * 20
    assert log.commands == [("insert", "accepted", None), ("insert", "outbox", None)]


def test_a_single_event_is_a_batch_of_one(watched, new_employee) -> None:
    ingestion, log = watched
    employee = new_employee()
    ingestion.accept(share(employee), path="http", speaks_for=TRACKER)
    log.commands.clear()

    assert ingestion.accept(share(employee), path="http", speaks_for=TRACKER).status == 201
    assert log.commands == [("insert", "accepted", None), ("insert", "outbox", None)]


def test_a_resend_reads_by_id_only_what_its_refusal_names(
    watched, new_employee, publish_outbox
) -> None:
    ingestion, log = watched
    employee = new_employee()
    event = share(employee)
    first = ingestion.accept(event, path="http", speaks_for=TRACKER)
    publish_outbox()
    log.commands.clear()

    again = ingestion.accept(event, path="http", speaks_for=TRACKER)

    assert again.status == 200 and again.event is not None
    assert again.event["sequence"] is not None and again.event["id"] == first.event_id
    reads = [command for command in log.commands if command[0] == "find"]
    assert reads and all(command[2] == {"_id": event["id"]} for command in reads)
    assert ("insert", "outbox", None) not in log.commands  # published: not queued again


class DiesBeforeQueueing(EventStore):
    """The real store of a process that dies between the acceptance record and the
    outbox entry."""

    def insert_outbox(self, documents: list[dict[str, Any]]) -> set[str]:
        raise InfrastructureError("the process died here")


def test_an_event_accepted_but_never_queued_is_queued_by_its_resend(
    store, new_employee, publish_outbox
) -> None:
    event = share(new_employee())
    with pytest.raises(InfrastructureError):
        Ingestion(DiesBeforeQueueing(store.db)).accept(event, path="http", speaks_for=TRACKER)
    assert store.find_accepted(event["id"]) is not None and store.count_pending() == 0

    resent = Ingestion(store).accept(event, path="http", speaks_for=TRACKER)

    assert resent.status == 200 and store.count_pending() == 1
    publish_outbox()
    stored = store.find_stored_event(event["id"])
    assert stored["entry"] == store.find_accepted(event["id"])["entry"]


def test_a_resend_with_other_content_is_refused_without_queueing(store, new_employee) -> None:
    ingestion = Ingestion(store)
    event = share(new_employee())
    assert ingestion.accept(event, path="http", speaks_for=TRACKER).status == 201
    other = {**event, "data": {**event["data"], "network": "x"}}

    refused = ingestion.accept(other, path="http", speaks_for=TRACKER)

    assert refused.status == 409 and refused.error is not None
    assert refused.error.field == "id"
    assert store.count_pending() == 1
