"""One employee's badges: what counted for each badge, the awards, the progress, and the
badge messages still to publish (an outbox kept in the same document, so that the state,
its processing position and what it must announce are written in one single write). Plain
dataclasses: their storage form is the state store's (`adapters/state_documents.py`)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cercle_common.errors import Conflict, NotFound, ValidationError
from services.badges.domain.applied import AppliedFacts
from services.badges.domain.catalogue import (
    CHALLENGE,
    COUNT,
    SET,
    SINGLE_TIER,
    STREAK,
    BadgeDefinition,
    Catalogue,
)
from services.badges.domain.criteria import Match, local_period_key, period_index, standing
from services.badges.domain.facts import ActionFact, PointsFact

AWARDED = "awarded"
REVOKED = "revoked"
BY_REVERSAL = "reversal"
BY_ADMIN = "admin"
SHARE_DELETED = "share.deleted"
CONTENT_SHARED = "content.shared"
# Fields of a `share.deleted` event naming the share it withdraws, most precise first.
SHARE_REFERENCES = ("share_event_id", "event_id", "share_id")


def award_key(employee_id: str, badge_id: str, tier: str) -> str:
    """The award's key inside the service: `<employee_id>:<badge_id>:<tier>`. Derivable
    from public facts, so it never leaves the service: see `public_award_id`."""
    return f"{employee_id}:{badge_id}:{tier}"


# 128 bits: an award id cannot be guessed, so hosted assertions cannot be enumerated.
PUBLIC_AWARD_ID_HEX = 32


def public_award_id(secret: str, employee_id: str, badge_id: str, tier: str) -> str:
    """The award's id outside the service (messages, URLs, APIs): an HMAC-SHA256 of its
    key under the badges secret, so the same award always has the same id (replays give
    the same ids) but nobody without the secret can compute or guess another's."""
    key = award_key(employee_id, badge_id, tier).encode()
    digest = hmac.new(secret.encode(), b"award-id\0" + key, hashlib.sha256).hexdigest()
    return digest[:PUBLIC_AWARD_ID_HEX]


@dataclass
class Award:
    """A badge tier granted to the employee. `revision` grows with every change, so that
    a projection never goes back to an older status."""

    badge_id: str
    tier: str
    status: str
    awarded_at: datetime
    evidence: list[str]
    revoked_at: datetime | None = None
    reason: str | None = None
    revoked_by: str | None = None
    revision: int = 1

    @property
    def at(self) -> datetime:
        """When the award last changed status."""
        return self.revoked_at if self.status == REVOKED and self.revoked_at else self.awarded_at


@dataclass(frozen=True)
class Progress:
    """How far the employee is from the badge's next tier (None when all are held)."""

    badge_id: str
    current: int
    next_tier: str | None
    next_threshold: int | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form served by the API."""
        return {
            "badge_id": self.badge_id,
            "current": self.current,
            "next_tier": self.next_tier,
            "next_threshold": self.next_threshold,
        }


@dataclass
class EmployeeBadges:
    """The badge state of one employee (the aggregate every write goes through)."""

    employee_id: str
    # The highest sequences applied; what was applied is decided by id (see `applied`).
    event_position: int = -1
    points_position: int = -1
    applied_events: AppliedFacts = field(default_factory=AppliedFacts)
    applied_points: AppliedFacts = field(default_factory=AppliedFacts)
    reversals_applied: list[str] = field(default_factory=list)
    as_of: datetime | None = None
    matches: dict[str, list[Match]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    awards: dict[str, Award] = field(default_factory=dict)
    settled: list[str] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    # -- facts -------------------------------------------------------------------------

    def record_event(self, fact: ActionFact, catalogue: Catalogue, time_zone: str) -> bool:
        """Apply an event once: an id already applied is a redelivery, whatever its
        sequence; a new id is applied even if its sequence is not above the position.
        Returns True when the state changed in a way worth writing: an event that no
        badge counts moves only the position, which the next write carries anyway (and
        applying it again would change nothing). Raises `ValidationError` (naming
        `occurred_at`), before changing anything, for an instant the organisation's
        calendar cannot place."""
        if self.applied_events.seen(fact.id, fact.sequence):
            return False
        _check_placeable(fact.occurred_at, time_zone)
        self.event_position = max(self.event_position, fact.sequence)
        changed = self._record_event(fact, catalogue, time_zone)
        if changed:
            self.applied_events.remember(fact.id, fact.sequence)
        return changed

    def _record_event(self, fact: ActionFact, catalogue: Catalogue, time_zone: str) -> bool:
        self._see(fact.occurred_at)
        if fact.type == SHARE_DELETED:
            if not self._withdraw_share(fact):
                return False
            reason = f"evidence reversed by {fact.type} {fact.id}"
            self._reconcile(catalogue, time_zone, fact.occurred_at, [fact.id], reason)
            return True
        matched = False
        for badge in catalogue.badges:
            if badge.filter is None or not badge.filter.matches(fact.type, fact.data):
                continue
            if badge.challenge is not None and not (
                badge.challenge.start <= fact.occurred_at < badge.challenge.end
            ):
                continue
            self.matches.setdefault(badge.id, []).append(self._match(badge, fact, time_zone))
            matched = True
        if matched:
            self._reconcile(catalogue, time_zone, fact.occurred_at, [fact.id], None)
        return matched

    def record_points(self, fact: PointsFact, catalogue: Catalogue, time_zone: str) -> bool:
        """Apply a ledger entry once, recognised by its id (`<event>:<rule>`): one event
        may give several entries at one sequence, and an id already applied is skipped
        whatever its sequence. Raises `ValidationError` (naming `occurred_at`), before
        changing anything, for an instant the organisation's calendar cannot place."""
        if fact.reverses is not None:
            # Reversals are rare and may carry the sequence of the entry they reverse:
            # remembered by id, whatever their place in the ledger, and never forgotten.
            if fact.id in self.reversals_applied:
                return False
            _check_placeable(fact.occurred_at, time_zone)
            self.reversals_applied.append(fact.id)
        else:
            if self.applied_points.seen(fact.id, fact.sequence):
                return False
            _check_placeable(fact.occurred_at, time_zone)
            self.applied_points.remember(fact.id, fact.sequence)
            self.points_position = max(self.points_position, fact.sequence)
        self._see(fact.occurred_at)
        self.totals["all"] = self.totals.get("all", 0) + fact.points
        for kind in sorted(catalogue.period_kinds()):
            key = f"{kind}:{local_period_key(kind, fact.occurred_at, time_zone)}"
            self.totals[key] = self.totals.get(key, 0) + fact.points
        reason = f"points reversed: {fact.reverses}" if fact.reverses else None
        self._reconcile(catalogue, time_zone, fact.occurred_at, [fact.event_id], reason)
        return True

    def advance_clock(self, now: datetime) -> bool:
        """Move the state's notion of now (a scheduled pass does it): a streak with no
        event in the last full period then shows as broken in the progress."""
        if self.as_of is not None and now <= self.as_of:
            return False
        self.as_of = now
        return True

    def settle_challenge(
        self, badge: BadgeDefinition, evidence: list[str], at: datetime
    ) -> Award | None:
        """Grant a challenge won (decided at its end across employees), once."""
        if badge.kind != CHALLENGE:
            raise Conflict(f"badge {badge.id!r} is not a challenge", "badge_id")
        if badge.id in self.settled:
            return None
        self.settled.append(badge.id)
        award = Award(badge.id, SINGLE_TIER, AWARDED, at, list(evidence))
        self.awards[f"{badge.id}:{SINGLE_TIER}"] = award
        self._announce(award)
        return award

    def revoke(self, badge_id: str, tier: str, reason: str, at: datetime) -> Award:
        """An administrator revokes an award; it is kept, marked revoked with the reason,
        and never granted again automatically. Revoking twice changes nothing."""
        award = self.awards.get(f"{badge_id}:{tier}")
        if award is None:
            raise NotFound(f"no award {badge_id}:{tier} for this employee", "award_id")
        if award.status == REVOKED and award.revoked_by == BY_ADMIN:
            return award
        award.status = REVOKED
        award.revoked_at = at
        award.reason = reason
        award.revoked_by = BY_ADMIN
        award.revision += 1
        self._announce(award)
        return award

    # -- reading -----------------------------------------------------------------------

    def progress(self, catalogue: Catalogue, time_zone: str) -> list[Progress]:
        """Progress toward the next tier not held, for every badge of the catalogue."""
        found = []
        for badge in catalogue.badges:
            now = standing(
                badge, self.matches.get(badge.id, []), self.totals, self.as_of, time_zone
            )
            next_tier = next(
                (
                    tier
                    for tier in badge.tiers
                    if f"{badge.id}:{tier.tier}" not in self.awards
                    or self.awards[f"{badge.id}:{tier.tier}"].status != AWARDED
                ),
                None,
            )
            if badge.challenge is not None and (
                badge.id in self.settled
                or (self.as_of is not None and self.as_of >= badge.challenge.end)
            ):
                next_tier = None
            found.append(
                Progress(
                    badge_id=badge.id,
                    current=now.current,
                    next_tier=next_tier.tier if next_tier else None,
                    next_threshold=next_tier.threshold if next_tier else None,
                )
            )
        return found

    def message(self, award: Award) -> dict[str, Any]:
        """The `cercle.badges.v1` message announcing the award's current status (its `id`
        is the award's key; the service layer puts the public id in its place)."""
        return {
            "id": award_key(self.employee_id, award.badge_id, award.tier),
            "employee_id": self.employee_id,
            "badge_id": award.badge_id,
            "tier": award.tier,
            "status": award.status,
            "at": _iso(award.at),
            "evidence": list(award.evidence),
            "reason": award.reason,
        }

    def take_outbox(self, published: list[dict[str, Any]]) -> None:
        """Forget outbox messages once they are published (compared by id and revision,
        so a message queued meanwhile by another writer stays)."""
        done = {(entry["id"], entry["revision"]) for entry in published}
        self.outbox = [e for e in self.outbox if (e["id"], e["revision"]) not in done]

    # -- inside ------------------------------------------------------------------------

    def _see(self, instant: datetime) -> None:
        if self.as_of is None or instant > self.as_of:
            self.as_of = instant

    def _match(self, badge: BadgeDefinition, fact: ActionFact, time_zone: str) -> Match:
        key: str | None = None
        if badge.kind == COUNT and badge.distinct:
            value = fact.data.get(badge.distinct)
            key = None if value is None else str(value)
        elif badge.kind == SET:
            value = fact.data.get("course_id")
            key = None if value is None else str(value)
        elif badge.kind == STREAK:
            assert badge.period is not None
            key = local_period_key(badge.period, fact.occurred_at, time_zone)
        content = fact.data.get("content_id") if fact.type == CONTENT_SHARED else None
        network = fact.data.get("network") if fact.type == CONTENT_SHARED else None
        return Match(
            event_id=fact.id,
            sequence=fact.sequence,
            occurred_at=fact.occurred_at,
            key=key,
            content_id=None if content is None else str(content),
            network=None if network is None else str(network),
        )

    def _withdraw_share(self, fact: ActionFact) -> bool:
        """Remove the deleted share from every badge's matches. The event names the share
        by its event id, or else by content (and network): all such shares go."""
        references = {str(fact.data[name]) for name in SHARE_REFERENCES if fact.data.get(name)}
        content = fact.data.get("content_id")
        network = fact.data.get("network")

        def withdrawn(match: Match) -> bool:
            if match.sequence >= fact.sequence:
                return False
            if references:
                return match.event_id in references
            if content is None or match.content_id != str(content):
                return False
            return network is None or match.network == str(network)

        removed = False
        for badge_id, matches in self.matches.items():
            kept = [match for match in matches if not withdrawn(match)]
            if len(kept) != len(matches):
                self.matches[badge_id] = kept
                removed = True
        return removed

    def _reconcile(
        self,
        catalogue: Catalogue,
        time_zone: str,
        at: datetime,
        cause: list[str],
        reversal: str | None,
    ) -> None:
        """Grant every tier whose criterion now holds; when evidence was reversed, revoke
        the awarded tiers whose criterion no longer holds."""
        for badge in catalogue.badges:
            if badge.kind == CHALLENGE:
                continue
            now = standing(
                badge, self.matches.get(badge.id, []), self.totals, self.as_of, time_zone
            )
            for tier in badge.tiers:
                key = f"{badge.id}:{tier.tier}"
                award = self.awards.get(key)
                if tier.tier in now.held:
                    evidence = list(now.held[tier.tier]) or list(cause)
                    if award is None:
                        award = Award(badge.id, tier.tier, AWARDED, at, evidence)
                        self.awards[key] = award
                        self._announce(award)
                    elif award.status == REVOKED and award.revoked_by == BY_REVERSAL:
                        award.status = AWARDED
                        award.awarded_at = at
                        award.evidence = evidence
                        award.revoked_at = award.reason = award.revoked_by = None
                        award.revision += 1
                        self._announce(award)
                elif award is not None and award.status == AWARDED and reversal is not None:
                    award.status = REVOKED
                    award.revoked_at = at
                    award.reason = reversal
                    award.revoked_by = BY_REVERSAL
                    award.revision += 1
                    self._announce(award)

    def _announce(self, award: Award) -> None:
        self.outbox.append({**self.message(award), "revision": award.revision})


def _check_placeable(instant: datetime, time_zone: str) -> None:
    """Refuse an instant whose day, week or month in the organisation's time zone does not
    exist (the calendar stops at years 1 and 9999): refused alone, as bad data, rather
    than failing the other facts written with it."""
    try:
        for kind in ("day", "week", "month"):
            period_index(kind, local_period_key(kind, instant, time_zone))
    except (OverflowError, ValueError) as error:
        raise ValidationError(
            f"cannot be placed in the organisation's calendar ({time_zone}): {error}",
            "occurred_at",
        ) from error


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
