"""MongoDB connection (each service owns one database) and driver error translation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import mongoengine
from pymongo import MongoClient, uri_parser
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError

from cercle_common.errors import InfrastructureError
from cercle_common.settings import Settings

DUPLICATE_KEY = 11000


def connect(settings: Settings, service: str, alias: str = "default") -> Database:
    """Register the service's database with mongoengine (under `alias`) and return the raw
    pymongo database for bulk writes. Connects lazily: nothing is sent until first use."""
    name = settings.database_name(service)
    if uri_parser.parse_uri(settings.mongo_url).get("database"):
        # A database in the URL would silently win over the one this service owns.
        raise ValueError(
            "MONGO_URL must not name a database (each service owns its own); "
            "use ?authSource=<db> to name the authentication database"
        )
    mongoengine.disconnect(alias=alias)
    client: MongoClient = mongoengine.connect(
        db=name,
        host=settings.mongo_url,
        alias=alias,
        # A distinct appname per alias: mongoengine otherwise hands two aliases one shared
        # client, and closing one would close the other's.
        appname=f"cercle-{service}-{alias}"[:128],
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        tz_aware=True,
        uuidRepresentation="standard",
    )
    return client[name]


def ping(database: Database) -> None:
    """Raises unless the server answers (a readiness check)."""
    database.command("ping")


def is_duplicate_key(error: PyMongoError) -> bool:
    """True when a write was refused only because its `_id` (or unique key) exists: the
    signature of an effect that was already applied."""
    if isinstance(error, DuplicateKeyError):
        return True
    if isinstance(error, BulkWriteError):
        problems = error.details.get("writeErrors", [])
        return bool(problems) and all(p.get("code") == DUPLICATE_KEY for p in problems)
    return False


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turns a lost connection into `InfrastructureError`, so callers retry instead of
    treating an outage as bad data."""
    try:
        yield
    except ConnectionFailure as error:
        raise InfrastructureError(f"MongoDB unavailable: {error}") from error
