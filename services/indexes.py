"""`python -m services.indexes`: every service's index command, one after the other (the
`cercle-indexes` Job runs it at each release; each service also has its own,
`python -m services.<service>.entrypoints.indexes`)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from cercle_common.jsonlog import configure_logging
from cercle_common.mongo import Index, connect, create_indexes
from cercle_common.settings import Settings

SERVICES = ("events", "points", "badges")


def declared_indexes(service: str) -> tuple[Index, ...]:
    """The indexes a service declares in its index command's module."""
    indexes: tuple[Index, ...] = importlib.import_module(index_module(service)).INDEXES
    return indexes


def index_module(service: str) -> str:
    """`services.<service>.entrypoints.indexes`, or `services.<service>.indexes` for a
    service still in the layout before the common skeleton (issue 15)."""
    module = f"services.{service}.entrypoints.indexes"
    if importlib.util.find_spec(f"services.{service}.entrypoints") is None:
        module = f"services.{service}.indexes"
    return module


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
