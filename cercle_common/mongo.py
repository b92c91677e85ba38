"""MongoDB connection (each service owns one database) and driver error translation."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Index:
    """A secondary index a service's queries need on MongoDB, and the query it serves
    (each service lists them in its `indexes` module and its README)."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    serves: str

    @property
    def name(self) -> str:
        """MongoDB's default name for these keys (`employee_id_1_sequence_-1`)."""
        return "_".join(f"{field}_{direction}" for field, direction in self.keys)


def create_indexes(database: Database, indexes: Iterable[Index]) -> list[str]:
    """Create each index unless it exists (idempotent); returns their names."""
    names = []
    with translated_errors():
        for index in indexes:
            names.append(database[index.collection].create_index(list(index.keys)))
    return names


def missing_indexes(database: Database, indexes: Iterable[Index]) -> list[Index]:
    """The indexes the database lacks (compared by their keys, whatever their names)."""
    missing = []
    with translated_errors():
        for index in indexes:
            present = {
                tuple((field, int(direction)) for field, direction in info["key"])
                for info in database[index.collection].index_information().values()
            }
            if index.keys not in present:
                missing.append(index)
    return missing


def run_index_command(service: str, indexes: Iterable[Index], argv: list[str] | None) -> int:
    """`python -m services.<service>.indexes [--check]`: create the service's indexes,
    or with `--check` only say which are missing (exit status 1 if any)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m services.{service}.indexes",
        description=f"Create the MongoDB indexes of the {service} service (idempotent).",
    )
    parser.add_argument(
        "--check", action="store_true", help="create nothing; exit 1 if any is missing"
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    database = connect(settings, service, alias=f"indexes-{service}")
    try:
        if args.check:
            missing = missing_indexes(database, indexes)
            for index in missing:
                where = f"{database.name}.{index.collection}"
                print(f"indexes: {where} lacks {index.name} ({index.serves})")
            return 1 if missing else 0
        for name in create_indexes(database, indexes):
            print(f"indexes: {database.name}.{name} ready")
    finally:
        database.client.close()
    return 0
