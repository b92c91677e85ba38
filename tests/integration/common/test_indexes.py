"""Every index a service's queries need on MongoDB is declared once (its `indexes`
module), listed in its README, and exists once its index command has run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cercle_common.mongo import connect, create_indexes, missing_indexes
from cercle_common.settings import Settings
from services.indexes import SERVICES, declared_indexes, ensure_all_indexes

ROOT = Path(__file__).resolve().parents[3]
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


def test_indexes_are_created_in_every_service_database_and_again_harmlessly(
    settings: Settings,
) -> None:
    names = ensure_all_indexes(settings)
    assert ensure_all_indexes(settings) == names  # idempotent
    client = connect(settings, "events", alias="check-all").client
    for name in names:
        client.drop_database(name)
    client.close()
