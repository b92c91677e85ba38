"""Check that the points service agrees with itself: `python -m services.points.entrypoints.check`.

For every employee: each period total of the state (MongoDB) equals the sum of the
ledger entries in that period, and the Redis index says what the states and directory
say (the employee's totals, their place and score on the global/team/site boards, the
team and site sums of listed members, the active member counts, the directory copy).
Exit status 0 when everything matches, 1 otherwise; the figures and the first
mismatches are printed. Run it on a quiet system (consumer caught up): a batch in flight
writes the index and the ledger before its state snapshot.
"""

from __future__ import annotations

import argparse
import sys

import mongoengine

from cercle_common.settings import Settings
from services.points.adapters.board_index import LeaderboardIndex
from services.points.adapters.board_index.audit import index_mismatches
from services.points.adapters.store import PointsStore
from services.points.bootstrap import connect_index, connect_store
from services.points.domain.integrity import CheckReport, Mismatch, compare_with_ledger

__all__ = ["CheckReport", "Mismatch", "check_points", "main", "run_check"]


def check_points(store: PointsStore, index: LeaderboardIndex, time_zone: str) -> CheckReport:
    """Compare states with the ledger, and the index with states and directory."""
    states = store.load_states()
    directory = store.load_directory()
    report = compare_with_ledger(states, store.ledger_points(), time_zone)
    report.mismatches += index_mismatches(index, states, directory)
    return report


def run_check(settings: Settings, alias: str = "points-check") -> CheckReport:
    """`check_points` on the configured MongoDB and Redis."""
    store = connect_store(settings, alias)
    index = connect_index(settings)
    try:
        return check_points(store, index, settings.org_timezone)
    finally:
        index.client.close()
        mongoengine.disconnect(alias=alias)


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 1 on any mismatch."""
    argparse.ArgumentParser(
        prog="python -m services.points.entrypoints.check",
        description="Check that the points totals equal the ledger and that the "
        "leaderboard index agrees with MongoDB (run it with the consumer caught up); "
        "exit 1 on any mismatch.",
    ).parse_args(argv)
    report = run_check(Settings.from_env())
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
