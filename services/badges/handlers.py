"""The badges service layer: every change to an employee's badges goes through here, the
same way whether it comes from Kafka, the scheduled pass or an administrator.

A change is: load the employee's state, apply it (pure core), write state + positions +
outbox in one write that fails if another writer got there first (then it is all done
again on a fresh read), then project the awards for the holders list, publish the outbox
and mark it published. A crash anywhere leaves either nothing written (the fact is
redelivered, and applied then) or an outbox still to publish (published by the next change
of that employee or the scheduled pass; at worst a message goes out twice, same id and
status): never a lost or doubled award. The consumer makes the changes of a whole batch
together (`apply_batch`): one bulk write of every state, one of the awards, one flush of
the messages; a conflict, rare, is then done again for its employee alone."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from cercle_common.envelope import parse_instant
from cercle_common.errors import InfrastructureError, NotFound
from services.badges.domain.catalogue import CHALLENGE, Catalogue
from services.badges.domain.criteria import Contribution, challenge_winners
from services.badges.domain.facts import ActionFact, PointsFact
from services.badges.domain.model import Award, EmployeeBadges, public_award_id
from services.badges.ports import (
    AwardProjection,
    BadgePublisher,
    ChallengeResultStore,
    DirectoryCopy,
    StateRepository,
)

log = logging.getLogger(__name__)

ANNOUNCED = Counter(
    "cercle_badges_announced_total",
    "Badge awards and revocations published on cercle.badges.v1",
    ["status"],
)

MAX_ATTEMPTS = 20
Fact = ActionFact | PointsFact


class BadgeService:
    """Applies facts, clock ticks, challenge results and revocations to employees' badges."""

    def __init__(
        self,
        catalogue: Catalogue,
        time_zone: str,
        states: StateRepository,
        awards: AwardProjection,
        publisher: BadgePublisher,
        directory: DirectoryCopy,
        results: ChallengeResultStore,
        award_secret: str,
    ) -> None:
        self.catalogue = catalogue
        self._award_secret = award_secret
        self.time_zone = time_zone
        self.states = states
        self.awards = awards
        self.publisher = publisher
        self.directory = directory
        self.results = results

    def award_id(self, employee_id: str, badge_id: str, tier: str) -> str:
        """The public id of an award (unguessable: see `public_award_id`)."""
        return public_award_id(self._award_secret, employee_id, badge_id, tier)

    def locate(self, award_id: str) -> tuple[str, str, str]:
        """(employee_id, badge_id, tier) of a public award id, from the awards projection;
        `NotFound` naming `award_id` for an id no award has."""
        row = self.awards.get(award_id)
        if row is None:
            raise NotFound(f"no award {award_id!r}", "award_id")
        employee_id, badge_id, tier = row["employee_id"], row["badge_id"], row["tier"]
        if self.award_id(employee_id, badge_id, tier) != award_id:
            raise NotFound(f"no award {award_id!r}", "award_id")  # a row of an older id scheme
        return employee_id, badge_id, tier

    # -- facts ---------------------------------------------------------------------------

    def apply_facts(self, employee_id: str, facts: Sequence[Fact]) -> None:
        """Apply events and ledger entries of one employee, in their delivery order."""
        self._change(employee_id, lambda state: self._record(state, facts))

    def apply_batch(self, facts_by_employee: Mapping[str, Sequence[Fact]]) -> dict[str, Exception]:
        """Apply the facts of many employees (each in delivery order) with one bulk write
        of their states. An employee whose facts the core refuses is left out, nothing of
        theirs written: returned with the error, for the caller to apply their facts one
        by one and refuse only the bad ones. A conflict is done again for its employee."""
        loaded = self.states.load_all(facts_by_employee)
        refused: dict[str, Exception] = {}
        changed: list[tuple[EmployeeBadges, int | None]] = []
        pending: list[tuple[EmployeeBadges, int | None]] = []
        for employee_id, facts in facts_by_employee.items():
            state, version = loaded[employee_id]
            try:
                if self._record(state, facts):
                    changed.append((state, version))
                elif state.outbox:
                    pending.append((state, version))  # left by a crash: published now
            except Exception as error:  # bad data (the core does no I/O)
                refused[employee_id] = error
        for (state, version), written in zip(changed, self.states.save_all(changed), strict=True):
            if not written:
                self.apply_facts(state.employee_id, facts_by_employee[state.employee_id])
            elif state.outbox:
                pending.append((state, (version or 0) + 1))
        self._publish_all(pending)
        return refused

    def _record(self, state: EmployeeBadges, facts: Sequence[Fact]) -> bool:
        changed = False
        for fact in facts:
            if isinstance(fact, ActionFact):
                changed = state.record_event(fact, self.catalogue, self.time_zone) or changed
            else:
                changed = state.record_points(fact, self.catalogue, self.time_zone) or changed
        return changed

    def erase(self, employee_id: str) -> None:
        """The employee left the directory: forget their badges and directory entry."""
        self.states.delete(employee_id)
        self.awards.delete_employee(employee_id)
        self.directory.delete(employee_id)

    # -- administrator -------------------------------------------------------------------

    def revoke(self, award_id: str, reason: str, now: datetime) -> Award:
        """An administrator revokes an award (kept, marked revoked with the reason)."""
        employee_id, badge_id, tier = self.locate(award_id)
        self.catalogue.get(badge_id)
        revoked: list[Award] = []

        def revoke(state: EmployeeBadges) -> bool:
            if not state.awards:
                raise NotFound(f"no award {award_id!r}", "award_id")
            before = state.awards.get(f"{badge_id}:{tier}")
            revision = before.revision if before else 0
            award = state.revoke(badge_id, tier, reason, now)
            revoked[:] = [award]
            return award.revision != revision

        self._change(employee_id, revoke)
        return revoked[0]

    # -- clock ---------------------------------------------------------------------------

    def advance_clock(self, employee_id: str, now: datetime) -> bool:
        """Move an employee's clock to `now`; written only when the progress shown changes
        (a streak broken by a period without an event, a new month for period points)."""
        changed: list[bool] = []

        def tick(state: EmployeeBadges) -> bool:
            before = state.progress(self.catalogue, self.time_zone)
            state.advance_clock(now)
            changed[:] = [state.progress(self.catalogue, self.time_zone) != before]
            return changed[0]

        self._change(employee_id, tick)
        return changed[0]

    def settle_due_challenges(self, now: datetime) -> list[str]:
        """Fix the winners of every challenge that has ended, once, and award them.
        Returns the ids of the challenges settled by this call."""
        settled = []
        for badge in self.catalogue.of_kind(CHALLENGE):
            assert badge.challenge is not None
            if badge.challenge.end > now:
                continue
            result = self.results.get(badge.id)
            if result is not None and result.get("applied"):
                continue
            if result is None:
                result = self.results.fix(
                    badge.id, self._winners(badge.id), fixed_at=badge.challenge.end
                )
            end = badge.challenge.end
            for winner in result["winners"]:
                evidence = list(winner["evidence"])

                def settle(state: EmployeeBadges, badge=badge, evidence=evidence, end=end) -> bool:
                    return state.settle_challenge(badge, evidence, end) is not None

                self._change(winner["employee_id"], settle)
            self.results.mark_applied(badge.id)
            settled.append(badge.id)
            log.info(
                "challenge settled",
                extra={"badge_id": badge.id, "winners": len(result["winners"])},
            )
        return settled

    def _winners(self, badge_id: str) -> list[dict[str, Any]]:
        badge = self.catalogue.get(badge_id)
        states = list(self.states.with_matches(badge_id))
        teams = {
            employee_id: entry.get("team")
            for employee_id, entry in self.directory.entries(
                [state.employee_id for state in states]
            ).items()
        }
        contributions = [
            Contribution(
                employee_id=state.employee_id,
                team=teams.get(state.employee_id),
                event_id=match.event_id,
                sequence=match.sequence,
            )
            for state in states
            for match in state.matches.get(badge_id, [])
        ]
        return [asdict(winner) for winner in challenge_winners(badge, contributions)]

    def collect_garbage(self) -> int:
        """Remove what newer writes superseded (old state versions, old directory
        entries), off the consumer's path: the scheduled pass. Returns how many."""
        return self.states.collect_garbage() + self.directory.collect_garbage()

    def flush_pending(self, employee_ids: Iterable[str]) -> int:
        """Publish what earlier changes left in outboxes (after a crash). Returns how many
        employees had something pending."""
        count = 0
        for employee_id in employee_ids:
            state, version = self.states.load(employee_id)
            if state.outbox:
                self._publish(state, version)
                count += 1
        return count

    # -- the one write path ----------------------------------------------------------------

    def _change(self, employee_id: str, apply: Callable[[EmployeeBadges], bool]) -> None:
        for _ in range(MAX_ATTEMPTS):
            state, version = self.states.load(employee_id)
            if not apply(state):
                if state.outbox:
                    self._publish(state, version)
                return
            if self.states.save(state, version):
                if state.outbox:
                    self._publish(state, (version or 0) + 1)
                return
        # Contention, not bad data: the consumer retries the batch, the API answers 503.
        raise InfrastructureError(
            f"employee {employee_id!r} kept changing under {MAX_ATTEMPTS} attempts"
        )

    def _publish(self, state: EmployeeBadges, version: int | None) -> None:
        self._publish_all([(state, version)])

    def _publish_all(self, states: Sequence[tuple[EmployeeBadges, int | None]]) -> None:
        """Project and publish the outboxes (one bulk insert, one flush), then mark them
        published."""
        outboxes = [(state, version, list(state.outbox)) for state, version in states]
        entries = [entry for _, _, pending in outboxes for entry in pending]
        if not entries:
            return
        wire = [self._wire(entry) for entry in entries]
        self.awards.project_all(
            [
                (message, entry["revision"], parse_instant(entry["at"], "at"))
                for entry, message in zip(entries, wire, strict=True)
            ]
        )
        self.publisher.publish(wire)
        for entry in entries:
            ANNOUNCED.labels(status=entry["status"]).inc()
        for state, _, pending in outboxes:
            state.take_outbox(pending)
        self.states.mark_all_published(
            [(state, version) for state, version, _ in outboxes if version is not None]
        )

    def _wire(self, entry: dict[str, Any]) -> dict[str, Any]:
        # The outbox names the award by its key; what leaves the service, by its public id.
        message = {key: value for key, value in entry.items() if key != "revision"}
        message["id"] = self.award_id(entry["employee_id"], entry["badge_id"], entry["tier"])
        return message
