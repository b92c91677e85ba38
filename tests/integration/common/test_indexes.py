"""Every index a service's queries need on MongoDB is declared once (read by its index
command, `python -m services.<service>.entrypoints.indexes`), listed in its README, and
exists once that command has run."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from cercle_common.mongo import Index, connect, create_indexes, missing_indexes
from cercle_common.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("events", "points", "badges")
# What the `cercle-indexes` Job runs, in turn.
INDEX_COMMANDS = tuple(f"services.{service}.entrypoints.indexes" for service in SERVICES)


def declared_indexes(service: str) -> tuple[Index, ...]:
    """The indexes a service's index command creates."""
    indexes: tuple[Index, ...] = importlib.import_module(
        f"services.{service}.entrypoints.indexes"
    ).INDEXES
    return indexes


ROW = re.compile(r"^\| `(?P<collection>[a-z_]+)` \| `(?P<keys>[^`]+)` \| (?P<serves>.+?) \|$")


def readme_indexes(service: str) -> set[tuple[str, tuple[tuple[str, int], ...]]]:
    """The rows of the README's "Indexes (MongoDB)" table."""
    text = (ROOT / "services" / service / "README.md").read_text()
    section = text.split("## Indexes (MongoDB)", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        match = ROW.match(line.strip())
        if match:
            keys = tuple(
                (field.strip(), int(direction))
                for field, direction in (part.split(":") for part in match["keys"].split(","))
            )
            rows.add((match["collection"], keys))
    return rows


@pytest.mark.parametrize("service", SERVICES)
def test_the_readme_lists_exactly_the_indexes_the_service_creates(service: str) -> None:
    listed = readme_indexes(service)
    assert listed, f"services/{service}/README.md has no Indexes table"
    assert listed == {(index.collection, index.keys) for index in declared_indexes(service)}


@pytest.mark.parametrize("service", SERVICES)
def test_every_declared_index_exists_after_the_command(settings: Settings, service: str) -> None:
    database = connect(settings, service, alias=f"check-{service}")
    try:
        assert missing_indexes(database, declared_indexes(service)) == list(
            declared_indexes(service)
        )
        create_indexes(database, declared_indexes(service))
        assert missing_indexes(database, declared_indexes(service)) == []
        # And the check sees one dropped afterwards.
        dropped = declared_indexes(service)[-1]
        database[dropped.collection].drop_index(dropped.name)
        assert missing_indexes(database, declared_indexes(service)) == [dropped]
    finally:
        database.client.drop_database(database.name)
        database.client.close()


def test_the_index_commands_create_every_service_index_and_again_harmlessly(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The commands read their settings from the environment: this test's databases.
    monkeypatch.setenv("MONGO_DB_PREFIX", settings.mongo_db_prefix)
    for _ in range(2):  # idempotent
        for command in INDEX_COMMANDS:
            assert importlib.import_module(command).main([]) == 0, command
    client = connect(settings, "events", alias="check-all").client
    try:
        for service in SERVICES:
            database = client[settings.database_name(service)]
            assert missing_indexes(database, declared_indexes(service)) == []
            assert (
                importlib.import_module(INDEX_COMMANDS[SERVICES.index(service)]).main(["--check"])
                == 0
            )
    finally:
        for service in SERVICES:
            client.drop_database(settings.database_name(service))
        client.close()
