"""Wires the badges service's adapters to its core, for the API, the consumer and the
scheduler alike (unit tests wire the fakes of `tests/unit/badges/fakes.py` instead).
Nothing connects here: the Mongo client, the Kafka producer and the HTTP session are lazy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import mongoengine
from pymongo.database import Database

from cercle_common.messaging import make_producer
from cercle_common.mongo import connect
from cercle_common.settings import Settings
from cercle_common.topics import BADGES
from services.badges.adapters.definitions import load_catalogue
from services.badges.adapters.publisher import KafkaBadgePublisher
from services.badges.adapters.recipients import EventsServiceEmails
from services.badges.adapters.repository import (
    AwardStore,
    ChallengeResults,
    Directory,
    KeyStore,
    RecipientStore,
    StateStore,
)
from services.badges.domain.catalogue import Catalogue
from services.badges.handlers import BadgeService
from services.badges.ports import RecipientLookup

SERVICE = "badges"


@dataclass
class Components:
    """Everything a badges process uses, built once per process."""

    settings: Settings
    database: Database
    catalogue: Catalogue
    service: BadgeService
    publisher: KafkaBadgePublisher
    keys: KeyStore
    states: StateStore
    awards: AwardStore
    directory: Directory
    recipients: RecipientStore
    emails: RecipientLookup
    alias: str

    def close(self) -> None:
        """Release the Kafka producer and the MongoDB client (end of a process or test)."""
        self.publisher.close()
        mongoengine.disconnect(alias=self.alias)
        self.database.client.close()


def build(
    settings: Settings, catalogue: Catalogue | None = None, state_cache_size: int = 0
) -> Components:
    """The badges service over the database `cercle_badges` (with the settings' prefix).
    With `state_cache_size`, the state store remembers where every state is and keeps
    that many in memory (for the consumer and the scheduled pass, which write the states
    they read; see `StateStore`)."""
    alias = f"{SERVICE}-{uuid.uuid4().hex}"
    database = connect(settings, SERVICE, alias=alias)
    catalogue = catalogue or load_catalogue()
    publisher = KafkaBadgePublisher(lambda: make_producer(settings), BADGES)
    states = StateStore(database, cache_size=state_cache_size)
    awards, directory = AwardStore(database), Directory(database)
    service = BadgeService(
        catalogue=catalogue,
        time_zone=settings.org_timezone,
        states=states,
        awards=awards,
        publisher=publisher,
        directory=directory,
        results=ChallengeResults(database),
        award_secret=settings.badge_salt,
    )
    return Components(
        settings=settings,
        database=database,
        catalogue=catalogue,
        service=service,
        publisher=publisher,
        keys=KeyStore(database),
        states=states,
        awards=awards,
        directory=directory,
        recipients=RecipientStore(database),
        emails=EventsServiceEmails(settings),
        alias=alias,
    )
