"""Scoring: from (state, event, rules) to ledger entries and the next state. Pure and
deterministic, so a replay in the same order reproduces the same ledger exactly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, datetime
from fractions import Fraction
from typing import Any

from cercle_common.envelope import (
    ACTION_TYPES,
    CHARTER_ACKNOWLEDGED,
    CONTENT_SHARED,
    COURSE_COMPLETED,
    POINTS_ADJUSTED,
    SHARE_DELETED,
    SHARE_ENGAGED,
    SURVEY_ANSWERED,
)
from cercle_common.errors import ValidationError
from cercle_common.periods import period_keys
from services.points.domain.model import EmployeeState, Event, LedgerEntry, ShareRecord
from services.points.domain.rules import (
    ADJUSTMENT,
    AWARD,
    ENGAGEMENT,
    ENGAGEMENT_COUNTS,
    REVERSAL,
    Rule,
    RuleSet,
)

NETWORK_NAMES = {
    "linkedin": "LinkedIn",
    "x": "X",
    "twitter": "X",
    "facebook": "Facebook",
    "xing": "XING",
    "instagram": "Instagram",
    "other": "another network",
}
CAP_NAMES = {"day": "daily", "week": "weekly"}
# Cap counters older than this many period keys (per rule and kind) are forgotten, which
# keeps the state bounded; events that late are rare and still scored deterministically.
KEPT_CAP_KEYS = 16
ADJUSTMENT_LIMIT = 1_000_000


def check_event(event: Event) -> None:
    """Refuse an event whose `data` the rules cannot read (it goes to the dead-letter
    topic); raises `ValidationError` naming the field."""
    if event.type not in ACTION_TYPES:
        raise ValidationError(f"not an action type the points service scores: {event.type}", "type")
    data = event.data
    if event.type == CONTENT_SHARED:
        _require_text(data, "content_id")
        _require_text(data, "network")
        tags = data.get("tags")
        if tags is not None and (
            not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags)
        ):
            raise ValidationError("must be a list of strings", "data.tags")
    elif event.type in (SHARE_ENGAGED, SHARE_DELETED):
        _require_text(data, "share_event_id")
        if event.type == SHARE_ENGAGED:
            for name in ENGAGEMENT_COUNTS:
                value = data.get(name, 0)
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValidationError("must be a non-negative integer", f"data.{name}")
    elif event.type == COURSE_COMPLETED:
        _require_text(data, "course_id")
        score = data.get("score")
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 100
        ):
            raise ValidationError("must be a number from 0 to 100", "data.score")
    elif event.type == SURVEY_ANSWERED:
        _require_text(data, "survey_id")
    elif event.type == CHARTER_ACKNOWLEDGED:
        if "charter_id" in data:
            _require_text(data, "charter_id")
    elif event.type == POINTS_ADJUSTED:
        points = data.get("points")
        if isinstance(points, bool) or not isinstance(points, int):
            raise ValidationError("must be an integer", "data.points")
        if abs(points) > ADJUSTMENT_LIMIT:
            raise ValidationError(f"must be within ±{ADJUSTMENT_LIMIT}", "data.points")
        _require_text(data, "reason")


def check_instants(event: Event, time_zone: str) -> None:
    """Refuse an event whose instants cannot be placed in the organisation's periods
    (e.g. the first hours of year 1 east of UTC); raises `ValidationError` naming it."""
    for name, instant in (("occurred_at", event.occurred_at), ("accepted_at", event.accepted_at)):
        # Only the first and last days representable can fail to convert.
        if instant is None or instant.year not in (MINYEAR, MAXYEAR):
            continue
        try:
            period_keys(instant, time_zone)
        except (OverflowError, ValueError) as error:
            raise ValidationError(f"outside the supported range: {error}", name) from error


def apply_event(
    state: EmployeeState, event: Event, rules: RuleSet, time_zone: str
) -> list[LedgerEntry]:
    """Score one event against `state` (updated in place) and return its ledger entries.
    An event already applied (by id, see `EmployeeState.was_applied`) changes nothing."""
    if state.was_applied(event):
        return []
    check_event(event)
    check_instants(event, time_zone)
    scorer = _Scorer(state, event, rules, time_zone)
    entries = [entry for rule in rules.for_event(event.type) if (entry := scorer.score(rule))]
    delta = sum(entry.points for entry in entries)
    if delta:
        for key in scorer.periods.values():
            points, _ = state.totals.get(key, [0, 0])
            state.totals[key] = [points + delta, event.sequence]
    state.remember(event)
    return entries


class _Scorer:
    def __init__(self, state: EmployeeState, event: Event, rules: RuleSet, time_zone: str) -> None:
        self.state = state
        self.event = event
        self.rules = rules
        # Leaderboard periods follow when the action happened...
        self.periods = period_keys(event.occurred_at, time_zone).as_dict()
        # ...caps and cooldowns when it was accepted, which a sender cannot back-date.
        self.cap_periods = period_keys(event.counted_at, time_zone).as_dict()

    def entry(
        self, rule: Rule, points: int, explanation: str, reverses: str | None = None
    ) -> LedgerEntry:
        event = self.event
        return LedgerEntry(
            id=f"{event.id}:{rule.id}",
            event_id=event.id,
            event_type=event.type,
            employee_id=event.employee_id,
            rule_id=rule.id,
            rules_version=self.rules.version,
            points=points,
            explanation=explanation,
            occurred_at=event.occurred_at,
            sequence=event.sequence,
            reverses=reverses,
        )

    def score(self, rule: Rule) -> LedgerEntry | None:
        if rule.kind == AWARD:
            return self.award(rule)
        if rule.kind == ENGAGEMENT:
            return self.engagement(rule)
        if rule.kind == REVERSAL:
            return self.reversal(rule)
        if rule.kind == ADJUSTMENT:
            return self.adjustment(rule)
        raise AssertionError(f"unknown rule kind {rule.kind}")

    def award(self, rule: Rule) -> LedgerEntry | None:
        event, state = self.event, self.state
        if not rule.matches(event.data):
            return None
        label = _label(rule.label, event.data)
        dedup_key = None
        if rule.once_per is not None:
            values = [str(event.data.get(name, "")) for name in rule.once_per]
            dedup_key = "|".join([rule.id, *values])
            if dedup_key in state.seen:
                return self.entry(rule, 0, f"{label}: +0; already scored once")
        if rule.cooldown_seconds:
            last = state.last_scored.get(rule.id)
            now = event.counted_at.timestamp()
            if last is not None and now - last < rule.cooldown_seconds:
                minutes = rule.cooldown_seconds // 60
                return self.entry(rule, 0, f"{label}: +0; cooldown of {minutes} min not over")
        cap_notes = []
        for period, limit in sorted(rule.caps.items()):
            used = state.cap_counts.get(self.cap_key(rule, period), 0)
            if used >= limit:
                return self.entry(rule, 0, f"{label}: +0; {CAP_NAMES[period]} cap {limit} reached")
            cap_notes.append((period, limit, used))
        for period, _limit, used in cap_notes:
            self.count_cap(rule, period, used + 1)
        points, campaign_note = self.multiplied(rule)
        if dedup_key is not None:
            state.seen.add(dedup_key)
        if rule.cooldown_seconds:
            state.last_scored[rule.id] = event.counted_at.timestamp()
        parts = [f"{label}: {_signed(points)}{campaign_note}"]
        parts += [f"{CAP_NAMES[p]} cap {limit}, {used + 1} used" for p, limit, used in cap_notes]
        entry = self.entry(rule, points, "; ".join(parts))
        if event.type == CONTENT_SHARED:
            record = state.shares.setdefault(event.id, ShareRecord())
            record.ledger_ids.append(entry.id)
            record.points += points
        return entry

    def cap_key(self, rule: Rule, period: str) -> str:
        return f"{rule.id}|{self.cap_periods[period]}"

    def count_cap(self, rule: Rule, period: str, used: int) -> None:
        counts = self.state.cap_counts
        counts[self.cap_key(rule, period)] = used
        # Period keys of one kind sort in time order, so the oldest are dropped first.
        prefix = f"{rule.id}|"
        same_kind = sorted(
            key for key in counts if key.startswith(prefix) and _kind_of(key) == period
        )
        for stale in same_kind[:-KEPT_CAP_KEYS]:
            del counts[stale]

    def multiplied(self, rule: Rule) -> tuple[int, str]:
        tags = frozenset(self.event.data.get("tags") or ())
        best = None
        for campaign in self.rules.campaigns:
            # Like caps, on the accept time: back-dating must not reach a past campaign.
            if campaign.applies(rule.id, self.event.counted_at, tags) and (
                best is None or campaign.multiplier > best.multiplier
            ):
                best = campaign
        if best is None or best.multiplier == 1:
            return rule.points, ""
        points = _round_half_up(rule.points * best.multiplier)
        return points, f" ({_signed(rule.points)} x{_number(best.multiplier)}, campaign {best.id})"

    def engagement(self, rule: Rule) -> LedgerEntry | None:
        data = self.event.data
        share_id = data["share_event_id"]
        record = self.state.shares.get(share_id)
        if record is None:
            return None
        if record.deleted:
            return self.entry(rule, 0, f"{rule.label}: +0; the share was deleted")
        value = sum(weight * int(data.get(name, 0)) for name, weight in rule.per.items())
        capped = value if rule.cap_per_share is None else min(value, rule.cap_per_share)
        # Counts are cumulative: a later report supersedes the earlier one.
        delta = capped - record.engaged
        record.engaged = capped
        record.ledger_ids.append(f"{self.event.id}:{rule.id}")
        counts = ", ".join(f"{data.get(name, 0)} {name}" for name in rule.per)
        note = f"{rule.label} ({counts}): {_signed(delta)}, {capped} in total for this share"
        if rule.cap_per_share is not None:
            note += f" (cap {rule.cap_per_share})"
        return self.entry(rule, delta, note)

    def reversal(self, rule: Rule) -> LedgerEntry | None:
        share_id = self.event.data["share_event_id"]
        record = self.state.shares.get(share_id)
        if record is None or record.deleted:
            return None
        earned = record.points + record.engaged
        record.deleted = True
        reverses = record.ledger_ids[0] if record.ledger_ids else None
        return self.entry(
            rule,
            -earned,
            f"{rule.label}: {_signed(-earned)} (reverses {record.points} for sharing "
            f"and {record.engaged} for engagement)",
            reverses=reverses,
        )

    def adjustment(self, rule: Rule) -> LedgerEntry:
        points = int(self.event.data["points"])
        reason = str(self.event.data["reason"])
        return self.entry(rule, points, f"{rule.label}: {_signed(points)} ({reason})")


def _require_text(data: Mapping[str, Any], name: str) -> None:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be a non-empty string", f"data.{name}")


def _label(template: str, data: Mapping[str, Any]) -> str:
    values: dict[str, Any] = {
        key: value for key, value in data.items() if isinstance(value, str | int | float)
    }
    network = values.get("network")
    if isinstance(network, str):
        values["network"] = NETWORK_NAMES.get(network, network)
    try:
        return template.format_map(_Defaulting(values))
    except (ValueError, IndexError):
        return template


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _signed(points: int) -> str:
    return f"+{points}" if points >= 0 else str(points)


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _round_half_up(value: Fraction) -> int:
    floor = value.numerator // value.denominator
    return floor + 1 if value - floor >= Fraction(1, 2) else floor


def _kind_of(cap_key: str) -> str:
    period_key = cap_key.rpartition("|")[2]
    return "week" if "-W" in period_key else "day"


def occurred_periods(occurred_at: datetime, time_zone: str) -> list[str]:
    """The period keys an event counts in (day, week, month, quarter, year, all)."""
    return list(period_keys(occurred_at, time_zone).as_dict().values())


@dataclass
class Scored:
    """What `apply_events` did: the new ledger entries, every period key the events
    touch (those of events already applied too, so that their projections can be written
    again), the ids skipped as already applied, and the ids applied although their
    sequence did not move the position forward (worth a log line: the events service
    should not publish those)."""

    entries: list[LedgerEntry] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    already_applied: list[str] = field(default_factory=list)
    behind_position: list[str] = field(default_factory=list)


def apply_events(
    state: EmployeeState, events: list[Event], rules: RuleSet, time_zone: str
) -> Scored:
    """Score one employee's events in sequence order on `state` (updated in place)."""
    scored = Scored()
    for event in sorted(events, key=lambda item: item.sequence):
        check_instants(event, time_zone)
        scored.touched.update(occurred_periods(event.occurred_at, time_zone))
        if state.was_applied(event):
            scored.already_applied.append(event.id)
            continue
        if event.sequence <= state.last_sequence:
            scored.behind_position.append(event.id)
        scored.entries.extend(apply_event(state, event, rules, time_zone))
    return scored


@dataclass
class Replayed:
    """The states and ledger a replay produced, and how many repeated ids it dropped."""

    states: dict[str, EmployeeState]
    entries: list[LedgerEntry]
    duplicates: int


def replay(events: Mapping[str, list[Event]], rules: RuleSet, time_zone: str) -> Replayed:
    """Score every employee's history from an empty state. An id met again (published
    twice, under any sequence) counts once, at its first sequence: the whole history is
    at hand here, so no repeat escapes, however far apart."""
    states: dict[str, EmployeeState] = {}
    entries: list[LedgerEntry] = []
    duplicates = 0
    for employee_id, history in events.items():
        seen: set[str] = set()
        unique = []
        for event in sorted(history, key=lambda item: item.sequence):
            if event.id in seen:
                duplicates += 1
                continue
            seen.add(event.id)
            unique.append(event)
        state = EmployeeState(employee_id)
        entries.extend(apply_events(state, unique, rules, time_zone).entries)
        if state.applied:
            states[employee_id] = state
    return Replayed(states, entries, duplicates)
