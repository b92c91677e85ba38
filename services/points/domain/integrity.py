"""What the points service checks about itself (`python -m services.points.entrypoints.check`):
each period total of a state equals the sum of the ledger entries in that period."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cercle_common.periods import period_keys
from services.points.domain.model import EmployeeState

SHOWN_MISMATCHES = 10


@dataclass(frozen=True)
class Mismatch:
    """One disagreement: `subject` (an employee, team or site) and `what` was compared,
    in which period, what the source of truth says and what was found."""

    subject: str
    what: str
    period_key: str
    expected: str
    found: str

    def __str__(self) -> str:
        period = f" [{self.period_key}]" if self.period_key else ""
        return f"{self.subject}: {self.what}{period}: expected {self.expected}, found {self.found}"


@dataclass
class CheckReport:
    """The figures of one check and every mismatch found."""

    employees: int = 0
    ledger_entries: int = 0
    period_totals: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing disagrees."""
        return not self.mismatches

    def lines(self, shown: int = SHOWN_MISMATCHES) -> list[str]:
        """The printed summary."""
        lines = [
            f"employees checked: {self.employees}",
            f"ledger entries: {self.ledger_entries}",
            f"period totals compared: {self.period_totals}",
            f"mismatches: {len(self.mismatches)}",
        ]
        lines += [f"  {mismatch}" for mismatch in self.mismatches[:shown]]
        if len(self.mismatches) > shown:
            lines.append(f"  ... and {len(self.mismatches) - shown} more")
        return lines


def compare_with_ledger(
    states: dict[str, EmployeeState],
    ledger_points: Iterable[tuple[str, int, datetime]],
    time_zone: str,
) -> CheckReport:
    """Compare every period total of the states with the sum of the ledger entries
    ((employee id, points, occurred_at) each) in that period."""
    report = CheckReport()
    ledger: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for employee_id, points, occurred_at in ledger_points:
        report.ledger_entries += 1
        for key in period_keys(occurred_at, time_zone).as_dict().values():
            ledger[employee_id][key] += points
    employees = sorted(set(states) | set(ledger))
    report.employees = len(employees)
    for employee_id in employees:
        state = states.get(employee_id)
        totals = state.totals if state is not None else {}
        sums = ledger.get(employee_id, {})
        for key in sorted(set(totals) | set(sums)):
            report.period_totals += 1
            expected, found = sums.get(key, 0), totals.get(key, [0, 0])[0]
            if expected != found:
                what = "state total vs ledger sum"
                report.mismatches.append(
                    Mismatch(employee_id, what, key, str(expected), str(found))
                )
    return report
