"""`python -m services.indexes`: every service's index command, one after the other (the
`cercle-indexes` Job runs it at each release; each service also has its own,
`python -m services.<service>.entrypoints.indexes`)."""

from __future__ import annotations

import argparse
import importlib
import sys

from cercle_common.jsonlog import configure_logging
from cercle_common.mongo import Index, connect, create_indexes
from cercle_common.settings import Settings

SERVICES = ("events", "points", "badges")


def declared_indexes(service: str) -> tuple[Index, ...]:
    """The indexes a service declares in its `indexes` command (`entrypoints/indexes.py`
    in the one service layout, `indexes.py` before it)."""
    command = f"services.{service}.entrypoints.indexes"
    try:
        module = importlib.import_module(command)
    except ModuleNotFoundError as error:
        if error.name not in (command, command.rpartition(".")[0]):
            raise
        module = importlib.import_module(f"services.{service}.indexes")
    indexes: tuple[Index, ...] = module.INDEXES
    return indexes


def ensure_all_indexes(settings: Settings) -> list[str]:
    """Create the indexes of the events, points and badges databases; returns their names."""
    names = []
    for service in SERVICES:
        database = connect(settings, service, alias=f"indexes-{service}")
        try:
            create_indexes(database, declared_indexes(service))
        finally:
            database.client.close()
        names.append(database.name)
    return names


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    argparse.ArgumentParser(
        prog="python -m services.indexes",
        description="Create the MongoDB indexes of every Cercle service (idempotent).",
    ).parse_args(argv)
    settings = Settings.from_env()
    configure_logging("indexes", settings.log_level)
    for name in ensure_all_indexes(settings):
        print(f"indexes: {name} ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
