"""Rebuild the ledger, the scores and the leaderboard index from the event history:
`python -m services.points.entrypoints.rescore [--rules FILE] [--employees e-1,e-2]
[--index-only]`.

The history is read from the `cercle.events.v1` topic from offset 0 (its retention is
infinite: it is the log every score is replayed from), up to the end offsets seen when
the command starts; the directory from the compacted `cercle.employees.v1` the same way.
Events go through the very functions the consumer uses, in sequence order per employee,
so under the rules that were live the result equals the live state exactly, and under a
new rules version it is the new state as a whole (each ledger entry names its version).

Stop the points consumer while a rescore runs, and start it again afterwards: it reloads
the states, whose positions make it skip what the rescore already applied and go on
with the events published since. `--index-only` rebuilds Redis from MongoDB alone.
"""

from __future__ import annotations

import argparse
import sys

from cercle_common.jsonlog import configure_logging
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points import handlers
from services.points.adapters.history import StartOffsets, read_topic
from services.points.adapters.rules_file import DEFAULT_RULES, load_rules
from services.points.bootstrap import connect_index, connect_store
from services.points.domain.rules import RuleSet
from services.points.handlers import RescoreReport

__all__ = ["RescoreReport", "main", "rebuild_index", "rescore"]


def rescore(
    settings: Settings,
    rules: RuleSet,
    employees: set[str] | None = None,
    start_offsets: StartOffsets | None = None,
    alias: str = "points-rescore",
) -> RescoreReport:
    """Rebuild ledger, states and index from the topics (for `employees` only, when
    given). `start_offsets` lets a test skip what others left on a shared topic."""
    return handlers.rescore_from_history(
        connect_store(settings, alias),
        connect_index(settings),
        rules,
        settings.org_timezone,
        read_topic(settings, EMPLOYEES, start_offsets),
        read_topic(settings, EVENTS, start_offsets),
        employees,
    )


def rebuild_index(settings: Settings, alias: str = "points-rescore") -> int:
    """Rebuild Redis from MongoDB alone (the source of truth); returns the employees."""
    return handlers.rebuild_index(connect_store(settings, alias), connect_index(settings))


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m services.points.entrypoints.rescore",
        description="Replay the event history into the points ledger, states and "
        "leaderboard index (stop the points consumer first), or rebuild the index alone.",
    )
    parser.add_argument("--rules", default=str(DEFAULT_RULES), help="the rules file (YAML)")
    parser.add_argument("--employees", default="", help="comma-separated ids (default: all)")
    parser.add_argument("--index-only", action="store_true", help="only rebuild Redis from MongoDB")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging("points-rescore", settings.log_level)
    if args.index_only:
        print(f"index rebuilt for {rebuild_index(settings)} employees")
        return 0
    employees = {item for item in args.employees.split(",") if item} or None
    report = rescore(settings, load_rules(args.rules), employees)
    print(
        f"rules version {report.rules_version}: {report.events} events replayed "
        f"({report.skipped} skipped, {report.duplicates} repeated ids), "
        f"{report.employees} employees, "
        f"{report.ledger_entries} ledger entries, {len(report.erased)} erased"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
