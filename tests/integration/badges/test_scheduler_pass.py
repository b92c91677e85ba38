"""The scheduled evaluation pass (the badges clock) over the real MongoDB and Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from cercle_common.topics import BADGES
from services.badges.bootstrap import build
from services.badges.domain.catalogue import parse_catalogue
from services.badges.domain.facts import ActionFact
from services.badges.entrypoints.scheduler import evaluation_pass
from tests.integration.badges.conftest import badge_messages


def text(en: str) -> dict[str, str]:
    return {"en": en, "fr": en}


CATALOGUE = {
    "issuer": {"name": "Cercle", "url": "https://cercle.test", "email": "b@cercle.test"},
    "badges": [
        {
            "id": "sprint",
            "kind": "challenge",
            "name": text("Sprint"),
            "description": text("First to share twice."),
            "criteria": {"type": "content.shared"},
            "start": "2026-11-01T00:00:00Z",
            "end": "2026-11-10T00:00:00Z",
            "target": 2,
            "first_k": 1,
        },
        {
            "id": "team-sprint",
            "kind": "challenge",
            "name": text("Team sprint"),
            "description": text("Every team sharing three times."),
            "criteria": {"type": "content.shared"},
            "start": "2026-11-01T00:00:00Z",
            "end": "2026-11-10T00:00:00Z",
            "target": 3,
            "team": True,
        },
        {
            "id": "weekly",
            "kind": "streak",
            "name": text("Weekly"),
            "description": text("Weeks in a row."),
            "criteria": {"type": "content.shared"},
            "period": "week",
            "tiers": [{"tier": "bronze", "threshold": 2}, {"tier": "silver", "threshold": 4}],
        },
    ],
}
AFTER_END = datetime(2026, 11, 11, tzinfo=UTC)


@pytest.fixture
def service(settings):
    built = build(settings, parse_catalogue(CATALOGUE))
    yield built.service
    built.close()


class Log:
    """Events in accept order across employees (the sequence is global)."""

    def __init__(self) -> None:
        self.sequence = 0

    def share(self, employee_id: str, day: int) -> ActionFact:
        self.sequence += 1
        return ActionFact(
            id=f"{employee_id}-ev-{self.sequence}",
            type="content.shared",
            employee_id=employee_id,
            occurred_at=datetime(2026, 11, day, 9, tzinfo=UTC),
            sequence=self.sequence,
            data={"content_id": f"c-{self.sequence}"},
        )


def names(*letters: str) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    return {letter: f"{letter}-{run}" for letter in letters}


def test_challenge_winners_are_fixed_at_the_end_once(service, watch):
    who = names("a", "b")
    log = Log()
    first_a = log.share(who["a"], 2)
    service.apply_facts(who["a"], [first_a])
    service.apply_facts(who["b"], [log.share(who["b"], 3), log.share(who["b"], 4)])
    service.apply_facts(who["a"], [log.share(who["a"], 5)])
    before_end = evaluation_pass(service, datetime(2026, 11, 9, tzinfo=UTC))
    assert before_end.challenges_settled == []

    badges = watch(BADGES)
    report = evaluation_pass(service, AFTER_END)
    assert report.challenges_settled == ["sprint", "team-sprint"]
    winner, _ = service.states.load(who["b"])
    loser, _ = service.states.load(who["a"])
    award = winner.awards["sprint:standard"]
    assert (award.status, award.awarded_at) == ("awarded", datetime(2026, 11, 10, tzinfo=UTC))
    assert "sprint:standard" not in loser.awards
    messages = badge_messages(badges.wait_for(lambda r: r.key == who["b"].encode()), who["b"])
    assert messages[0]["id"] == service.award_id(who["b"], "sprint", "standard")

    # A late event inside the window and another pass: the result stands.
    service.apply_facts(who["a"], [log.share(who["a"], 6)])
    assert evaluation_pass(service, AFTER_END).challenges_settled == []
    assert "sprint:standard" not in service.states.load(who["a"])[0].awards
    assert service.results.get("sprint")["winners"][0]["employee_id"] == who["b"]


def test_team_challenge_awards_members_of_teams_reaching_the_target(service):
    who = names("a", "b", "c")
    for letter, team in (("a", "red"), ("b", "red"), ("c", "blue")):
        service.directory.apply_snapshot({"employee_id": who[letter], "team": team, "version": 1})
    log = Log()
    service.apply_facts(who["a"], [log.share(who["a"], 2), log.share(who["a"], 3)])
    service.apply_facts(who["c"], [log.share(who["c"], 3), log.share(who["c"], 4)])
    service.apply_facts(who["b"], [log.share(who["b"], 4)])
    evaluation_pass(service, AFTER_END)
    winners = {w["employee_id"]: w for w in service.results.get("team-sprint")["winners"]}
    assert set(winners) == {who["a"], who["b"]}
    assert winners[who["a"]]["team"] == "red"
    assert "team-sprint:standard" in service.states.load(who["b"])[0].awards
    assert "team-sprint:standard" not in service.states.load(who["c"])[0].awards


def test_the_clock_breaks_a_streak_and_a_second_pass_changes_nothing(service):
    employee = names("a")["a"]
    log = Log()
    # After the challenges' window, so that only the clock touches this employee.
    service.apply_facts(employee, [log.share(employee, 16), log.share(employee, 23)])
    state, version = service.states.load(employee)
    weekly = {p.badge_id: p for p in state.progress(service.catalogue, service.time_zone)}
    assert (weekly["weekly"].current, weekly["weekly"].next_tier) == (2, "silver")

    three_weeks_later = datetime(2026, 12, 14, tzinfo=UTC)
    assert evaluation_pass(service, three_weeks_later).clocks_moved >= 1
    state, moved_version = service.states.load(employee)
    weekly = {p.badge_id: p for p in state.progress(service.catalogue, service.time_zone)}
    assert weekly["weekly"].current == 0
    assert state.awards["weekly:bronze"].status == "awarded"
    assert moved_version == version + 1

    evaluation_pass(service, three_weeks_later)
    assert service.states.load(employee)[1] == moved_version


def test_the_pass_publishes_an_outbox_a_crash_left_behind(service, watch):
    employee = names("a")["a"]
    log = Log()
    state, version = service.states.load(employee)
    # As if the process died right after writing the state, before publishing.
    state.record_event(log.share(employee, 16), service.catalogue, service.time_zone)
    state.record_event(log.share(employee, 23), service.catalogue, service.time_zone)
    assert service.states.save(state, version)
    assert service.awards.get(service.award_id(employee, "weekly", "bronze")) is None

    badges = watch(BADGES)
    evaluation_pass(service, datetime(2026, 11, 12, tzinfo=UTC))
    assert service.awards.get(service.award_id(employee, "weekly", "bronze"))["status"] == "awarded"
    assert service.states.load(employee)[0].outbox == []
    messages = badge_messages(badges.wait_for(lambda r: r.key == employee.encode()), employee)
    assert [m["id"] for m in messages] == [service.award_id(employee, "weekly", "bronze")]
