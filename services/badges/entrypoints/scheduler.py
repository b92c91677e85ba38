"""The badges clock: `python -m services.badges.entrypoints.scheduler` runs one evaluation
pass and exits (a Kubernetes CronJob, or `--every SECONDS` for a local periodic run).

A pass: fixes the winners of every challenge that has ended (once: the first result
stored stands) and awards them; moves every employee's clock to now, so that a streak
whose last period passed without an event shows as broken; publishes any outbox a crash
left behind; then removes what newer writes superseded (old state versions and directory
entries, in bulk: never on the consumer's path). Running it twice, or concurrently,
changes nothing more."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from cercle_common.envelope import parse_instant
from cercle_common.jsonlog import configure_logging
from cercle_common.settings import Settings
from services.badges.bootstrap import build
from services.badges.handlers import BadgeService

log = logging.getLogger(__name__)

# State bodies the pass keeps in memory (it reads each state about once).
PASS_STATE_CACHE_SIZE = 100


@dataclass(frozen=True)
class PassReport:
    """What one pass did."""

    challenges_settled: list[str]
    clocks_moved: int
    outboxes_flushed: int
    garbage_collected: int


def evaluation_pass(service: BadgeService, now: datetime) -> PassReport:
    """One pass of the clock at `now` (see the module docstring)."""
    settled = service.settle_due_challenges(now)
    moved = sum(
        1
        for employee_id in list(service.states.employee_ids())
        if service.advance_clock(employee_id, now)
    )
    flushed = service.flush_pending(list(service.states.employee_ids(with_outbox_only=True)))
    return PassReport(
        challenges_settled=settled,
        clocks_moved=moved,
        outboxes_flushed=flushed,
        garbage_collected=service.collect_garbage(),
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: one pass (default), or one every `--every` seconds until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m services.badges.entrypoints.scheduler",
        description=(
            "The badges clock: settle ended challenges, move every employee's clock, "
            "publish what a crash left in outboxes, clean up superseded documents."
        ),
    )
    parser.add_argument("--now", help="evaluate as of this ISO 8601 instant (default: now)")
    parser.add_argument("--every", type=float, help="repeat every N seconds (local runs)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging("badges-scheduler", settings.log_level)
    # The pass writes the states it reads: its store remembers where every state is,
    # from one read per pass, instead of looking each one up.
    components = build(settings, state_cache_size=PASS_STATE_CACHE_SIZE)
    try:
        while True:
            now = parse_instant(args.now, "--now") if args.now else datetime.now(UTC)
            report = evaluation_pass(components.service, now)
            log.info(
                "evaluation pass done",
                extra={
                    "at": now.isoformat(),
                    "challenges_settled": report.challenges_settled,
                    "clocks_moved": report.clocks_moved,
                    "outboxes_flushed": report.outboxes_flushed,
                    "garbage_collected": report.garbage_collected,
                },
            )
            if args.every is None:
                return 0
            time.sleep(args.every)
    finally:
        components.close()


if __name__ == "__main__":
    sys.exit(main())
