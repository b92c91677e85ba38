"""Wires the events service's adapters to its service layer, for the API, the inbound
consumer, the relay and the tools alike (unit tests wire fakes instead). Nothing
connects here: the Mongo client and the Kafka producer are lazy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from kafka import KafkaProducer

from cercle_common.settings import Settings
from services.events.adapters.catalogue import MongoCatalogue
from services.events.adapters.event_store import EventStore
from services.events.adapters.known_employees import KnownEmployees
from services.events.adapters.publisher import KafkaEventPublisher
from services.events.handlers import (
    Catalogue,
    Clock,
    Directory,
    Ingestion,
    OutboxRelay,
    utc_now,
)
from services.events.ports import EventLog


@dataclass
class Components:
    """What an events process uses, built once per process. The door and the directory
    share one copy of the directory, so a change made here is judged by the door at once;
    the door and the admin catalogue share the catalogue's copy the same way."""

    settings: Settings
    store: EventStore
    employees: KnownEmployees
    catalogue_store: MongoCatalogue
    ingestion: Ingestion
    directory: Directory
    catalogue: Catalogue

    def close(self) -> None:
        """Release the MongoDB client (end of a process or test)."""
        self.store.close()


def build(
    settings: Settings, clock: Clock = utc_now, store: EventStore | None = None
) -> Components:
    """The events service over the database `cercle_events` (with the settings' prefix),
    or over `store` (tests and benches give their own)."""
    store = store or EventStore.connect(settings)
    employees = KnownEmployees(store)
    catalogue_store = MongoCatalogue(store.db)
    max_age = timedelta(days=settings.event_max_age_days)
    return Components(
        settings=settings,
        store=store,
        employees=employees,
        catalogue_store=catalogue_store,
        ingestion=Ingestion(store, clock, max_age, employees, catalogue_store),
        directory=Directory(store, clock, employees),
        catalogue=Catalogue(catalogue_store, clock),
    )


def door_copies(store: EventLog) -> tuple[KnownEmployees, MongoCatalogue]:
    """The door's copies of the directory and the catalogue over the database of `store`
    (an `Ingestion` given only its event store: tools and tests)."""
    if not isinstance(store, EventStore):
        raise TypeError("an Ingestion over another event log is given its copies")
    return KnownEmployees(store), MongoCatalogue(store.db)


def relay(
    store: EventStore,
    producer_factory: Callable[[], KafkaProducer],
    *,
    crash_after_publish: bool = False,
) -> OutboxRelay:
    """The relay's turn over the service's database and Kafka."""
    publisher = KafkaEventPublisher(producer_factory, crash_after_publish=crash_after_publish)
    return OutboxRelay(store, store, store, store, publisher)
