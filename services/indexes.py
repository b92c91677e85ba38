"""`python -m services.indexes`: create every service's MongoDB indexes (idempotent).
Run once per deployment (a Kubernetes Job); the consumers also create their own at start."""

from __future__ import annotations

import sys

from cercle_common.jsonlog import configure_logging
from cercle_common.mongo import connect
from cercle_common.settings import Settings
from services.badges.repository import AwardStore
from services.events.store import EventStore
from services.points.store import PointsStore


def ensure_all_indexes(settings: Settings) -> list[str]:
    """Create the indexes of the events, points and badges databases; returns their names."""
    events = EventStore.connect(settings)
    points = connect(settings, "points", alias="indexes-points")
    badges = connect(settings, "badges", alias="indexes-badges")
    try:
        events.ensure_indexes()
        PointsStore(points).ensure_indexes()
        AwardStore(badges).ensure_indexes()
    finally:
        for database in (events.db, points, badges):
            database.client.close()
    return [settings.database_name(service) for service in ("events", "points", "badges")]


def main() -> int:
    """Command line entry point."""
    settings = Settings.from_env()
    configure_logging("indexes", settings.log_level)
    for name in ensure_all_indexes(settings):
        print(f"indexes: {name} ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
