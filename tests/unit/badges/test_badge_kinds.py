"""Every badge kind on the pure core, with its edges."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import pytest

from cercle_common.errors import NotFound
from services.badges.adapters.state_documents import state_document, state_from_document
from services.badges.domain.catalogue import Catalogue
from services.badges.domain.criteria import Contribution, challenge_winners
from services.badges.domain.facts import ActionFact, PointsFact
from services.badges.domain.model import AWARDED, REVOKED, EmployeeBadges

TZ = "Europe/Paris"


def apply(
    catalogue: Catalogue, facts: Iterable[ActionFact | PointsFact], employee_id: str = "e-1"
) -> EmployeeBadges:
    state = EmployeeBadges(employee_id=employee_id)
    for fact in facts:
        if isinstance(fact, ActionFact):
            state.record_event(fact, catalogue, TZ)
        else:
            state.record_points(fact, catalogue, TZ)
    return state


def held(state: EmployeeBadges) -> set[str]:
    return {key for key, award in state.awards.items() if award.status == AWARDED}


def progress_of(state: EmployeeBadges, catalogue: Catalogue, badge_id: str) -> tuple:
    found = {p.badge_id: p for p in state.progress(catalogue, TZ)}[badge_id]
    return found.current, found.next_tier, found.next_threshold


# -- first, charter, count ------------------------------------------------------------------


def test_first_share_is_awarded_once_with_the_share_as_evidence(catalogue, facts):
    share = facts.event("2026-11-02T09:00:00Z", content_id="c-1")
    state = apply(catalogue, [share, facts.event("2026-11-03T09:00:00Z", content_id="c-2")])
    award = state.awards["first-share:standard"]
    assert award.evidence == [share.id]
    assert award.awarded_at == share.occurred_at
    assert [m["id"] for m in state.outbox].count("e-1:first-share:standard") == 1


def test_charter_acknowledged_earns_the_charter_badge(catalogue, facts):
    state = apply(catalogue, [facts.event("2026-11-02T09:00:00Z", "charter.acknowledged")])
    assert held(state) == {"charter-signed:standard"}


def test_count_counts_distinct_content_only(catalogue, facts):
    state = apply(
        catalogue,
        [
            facts.event("2026-11-02T09:00:00Z", content_id="c-1", network="linkedin"),
            facts.event("2026-11-02T10:00:00Z", content_id="c-1", network="x"),
        ],
    )
    assert "ambassador:bronze" not in state.awards
    assert progress_of(state, catalogue, "ambassador") == (1, "bronze", 2)


def test_count_tiers_are_granted_in_turn_with_their_evidence(catalogue, facts):
    shares = [facts.event("2026-11-02T09:00:00Z", content_id=f"c-{n}") for n in range(4)]
    state = apply(catalogue, shares)
    assert state.awards["ambassador:bronze"].evidence == [shares[0].id, shares[1].id]
    assert state.awards["ambassador:silver"].evidence == [s.id for s in shares]
    assert state.awards["ambassador:silver"].awarded_at == shares[3].occurred_at
    assert progress_of(state, catalogue, "ambassador") == (4, "gold", 6)


# -- points milestones and periodic ---------------------------------------------------------


def test_one_ledger_entry_crossing_two_tiers_grants_both(catalogue, facts):
    small = facts.entry("2026-11-01T09:00:00Z", 20)
    big = facts.entry("2026-11-02T09:00:00Z", 300)
    state = apply(catalogue, [small, big])
    assert {"milestones:bronze", "milestones:silver"} <= held(state)
    assert "milestones:gold" not in state.awards
    assert state.awards["milestones:bronze"].evidence == [big.event_id]
    assert state.awards["milestones:silver"].evidence == [big.event_id]
    assert progress_of(state, catalogue, "milestones") == (320, "gold", 1000)


def test_points_per_month_milestone_needs_the_points_within_one_month(catalogue, facts):
    state = apply(
        catalogue,
        [facts.entry("2026-10-31T12:00:00Z", 100), facts.entry("2026-11-01T12:00:00Z", 100)],
    )
    assert "month-high:bronze" not in state.awards
    state.record_points(facts.entry("2026-11-20T12:00:00Z", 60), catalogue, TZ)
    assert "month-high:bronze" in held(state)


def test_periodic_needs_the_minimum_in_consecutive_months(catalogue, facts):
    state = apply(
        catalogue,
        [
            facts.entry("2026-08-10T12:00:00Z", 60),
            facts.entry("2026-09-10T12:00:00Z", 40),  # below 50: breaks the run
            facts.entry("2026-10-10T12:00:00Z", 60),
            facts.entry("2026-11-10T12:00:00Z", 60),
        ],
    )
    assert "regular:bronze" not in state.awards
    assert progress_of(state, catalogue, "regular") == (2, "bronze", 3)
    state.record_points(facts.entry("2026-12-10T12:00:00Z", 70), catalogue, TZ)
    assert "regular:bronze" in held(state)


def test_periodic_month_is_cut_in_the_organisation_time_zone(catalogue, facts):
    # 23:30 UTC on 31 October is already November in Paris.
    state = apply(
        catalogue,
        [
            facts.entry("2026-09-15T12:00:00Z", 50),
            facts.entry("2026-10-31T23:30:00Z", 50),
            facts.entry("2026-11-15T12:00:00Z", 10),
        ],
    )
    assert "month:2026-10" not in state.totals
    assert state.totals["month:2026-11"] == 60
    assert "regular:bronze" not in state.awards


# -- streaks ----------------------------------------------------------------------------


def test_weekly_streak_broken_by_one_missing_week(catalogue, facts):
    weeks = ["2026-11-02", "2026-11-09", "2026-11-23", "2026-11-30"]  # ISO week 47 missing
    state = apply(catalogue, [facts.event(f"{day}T09:00:00Z", content_id=day) for day in weeks])
    assert "weekly-sharer:bronze" not in state.awards
    assert progress_of(state, catalogue, "weekly-sharer") == (2, "bronze", 3)
    state.record_event(facts.event("2026-12-07T09:00:00Z", content_id="x"), catalogue, TZ)
    assert "weekly-sharer:bronze" in held(state)


def test_weekly_streak_runs_across_iso_week_53_and_the_year_boundary(catalogue, facts):
    # 2026 has an ISO week 53 (28 Dec 2026 - 3 Jan 2027); 2027-W01 starts on 4 January.
    days = ["2026-12-16", "2026-12-23", "2026-12-30", "2027-01-06", "2027-01-13"]
    shares = [facts.event(f"{day}T09:00:00Z", content_id=day) for day in days]
    state = apply(catalogue, shares)
    assert state.matches["weekly-sharer"][2].key == "2026-W53"
    assert state.matches["weekly-sharer"][3].key == "2027-W01"
    assert {"weekly-sharer:bronze", "weekly-sharer:silver"} <= held(state)
    assert state.awards["weekly-sharer:silver"].evidence == [s.id for s in shares]


def test_weekly_streak_without_week_53_is_broken(catalogue, facts):
    days = ["2026-12-16", "2026-12-23", "2027-01-06"]
    state = apply(catalogue, [facts.event(f"{day}T09:00:00Z", content_id=day) for day in days])
    assert "weekly-sharer:bronze" not in state.awards


def test_daily_streak_days_are_cut_in_the_organisation_time_zone(catalogue, facts):
    # 23:30 UTC on the 25th is the 26th in Paris: three local days in a row.
    days = ["2026-11-25T12:00:00Z", "2026-11-25T23:30:00Z", "2026-11-27T08:00:00Z"]
    state = apply(catalogue, [facts.event(day, content_id=day) for day in days])
    assert "daily-sharer:bronze" in held(state)


def test_survey_participation_streak_over_months(catalogue, facts):
    months = ["2026-11-10", "2026-12-10", "2027-01-10"]
    answers = [
        facts.event(f"{m}T09:00:00Z", "survey.answered", survey_id=m, kind="pulse") for m in months
    ]
    state = apply(catalogue, answers)
    assert "survey-voice:bronze" in held(state)


def test_the_clock_breaks_a_streak_in_progress_but_keeps_the_badge(catalogue, facts):
    days = ["2026-11-02", "2026-11-09", "2026-11-16"]
    state = apply(catalogue, [facts.event(f"{day}T09:00:00Z", content_id=day) for day in days])
    assert progress_of(state, catalogue, "weekly-sharer") == (3, "silver", 5)
    # Next week without a share: still alive (the week is not over).
    state.advance_clock(facts.at("2026-11-25T09:00:00Z"))
    assert progress_of(state, catalogue, "weekly-sharer") == (3, "silver", 5)
    # A whole week passed without a share: broken.
    state.advance_clock(facts.at("2026-12-01T09:00:00Z"))
    assert progress_of(state, catalogue, "weekly-sharer") == (0, "silver", 5)
    assert "weekly-sharer:bronze" in held(state)


# -- sets -------------------------------------------------------------------------------


def test_set_needs_every_course_of_the_track(catalogue, facts):
    done = [
        facts.event("2026-11-02T09:00:00Z", "course.completed", course_id="c-2"),
        facts.event("2026-11-03T09:00:00Z", "course.completed", course_id="c-1"),
        facts.event("2026-11-03T10:00:00Z", "course.completed", course_id="c-9"),
    ]
    state = apply(catalogue, done)
    assert "foundations:standard" not in state.awards
    assert progress_of(state, catalogue, "foundations") == (2, "standard", 3)
    last = facts.event("2026-11-04T09:00:00Z", "course.completed", course_id="c-3")
    state.record_event(last, catalogue, TZ)
    assert state.awards["foundations:standard"].evidence == [done[1].id, done[0].id, last.id]


# -- challenges ---------------------------------------------------------------------------


def contributions(states: list[EmployeeBadges], badge_id: str, teams=None) -> list:
    return [
        Contribution(s.employee_id, (teams or {}).get(s.employee_id), m.event_id, m.sequence)
        for s in states
        for m in s.matches.get(badge_id, [])
    ]


def test_challenge_ending_mid_stream_counts_only_events_before_the_end(catalogue, facts):
    # The sprint runs 1-8 December (Paris); first 2 to share twice win.
    ev = facts.event
    stream = [
        ev("2026-11-30T22:00:00Z", employee_id="a"),  # before the start
        ev("2026-12-01T09:00:00Z", employee_id="a"),
        ev("2026-12-02T09:00:00Z", employee_id="b"),
        ev("2026-12-03T09:00:00Z", employee_id="c"),
        ev("2026-12-04T09:00:00Z", employee_id="c"),  # c reaches 2 first
        ev("2026-12-07T22:59:00Z", employee_id="a"),  # a reaches 2, still 7 Dec in Paris
        ev("2026-12-07T23:00:00Z", employee_id="b"),  # 8 Dec 00:00 Paris: after the end
    ]
    states = {name: EmployeeBadges(employee_id=name) for name in "abc"}
    for fact in stream:
        states[fact.employee_id].record_event(fact, catalogue, TZ)
    badge = catalogue.get("sprint")
    winners = challenge_winners(badge, contributions(list(states.values()), "sprint"))
    assert [(w.employee_id, w.rank) for w in winners] == [("c", 1), ("a", 2)]
    assert winners[1].evidence == (stream[1].id, stream[5].id)
    # Progress stops at the end: b's late share did not count.
    assert progress_of(states["b"], catalogue, "sprint") == (1, None, None)


def test_challenge_first_k_keeps_the_first_by_accept_order(catalogue, facts):
    ev = facts.event
    stream = [ev("2026-12-02T09:00:00Z", employee_id=name) for name in "abcabc"]
    states = {name: EmployeeBadges(employee_id=name) for name in "abc"}
    for fact in stream:
        states[fact.employee_id].record_event(fact, catalogue, TZ)
    winners = challenge_winners(
        catalogue.get("sprint"), contributions(list(states.values()), "sprint")
    )
    assert [w.employee_id for w in winners] == ["a", "b"]


def test_challenge_winners_are_fixed_once(catalogue, facts):
    state = EmployeeBadges(employee_id="a")
    badge = catalogue.get("sprint")
    end = badge.challenge.end
    assert state.settle_challenge(badge, ["ev-1", "ev-2"], end) is not None
    assert state.settle_challenge(badge, ["ev-9"], end) is None
    assert state.awards["sprint:standard"].evidence == ["ev-1", "ev-2"]
    assert state.awards["sprint:standard"].awarded_at == end
    assert progress_of(state, catalogue, "sprint")[1] is None


def test_team_challenge_awards_every_contributing_member_of_teams_reaching_the_target(
    catalogue, facts
):
    ev = facts.event
    stream = [
        ev("2026-12-02T09:00:00Z", "course.completed", employee_id="a", course_id="x"),
        ev("2026-12-02T10:00:00Z", "course.completed", employee_id="c", course_id="x"),
        ev("2026-12-03T09:00:00Z", "course.completed", employee_id="b", course_id="y"),
        ev("2026-12-03T10:00:00Z", "course.completed", employee_id="a", course_id="z"),
        ev("2026-12-04T10:00:00Z", "course.completed", employee_id="c", course_id="y"),
    ]
    states = {name: EmployeeBadges(employee_id=name) for name in "abcd"}
    for fact in stream:
        states[fact.employee_id].record_event(fact, catalogue, TZ)
    teams = {"a": "blue", "b": "blue", "c": "red", "d": "blue"}
    winners = challenge_winners(
        catalogue.get("team-week"), contributions(list(states.values()), "team-week", teams)
    )
    assert [(w.employee_id, w.team, w.rank) for w in winners] == [
        ("a", "blue", 1),
        ("b", "blue", 1),
    ]


# -- revocation -----------------------------------------------------------------------------


def test_revocation_after_reversal_keeps_the_award_marked_revoked(catalogue, facts):
    share = facts.event("2026-11-02T09:00:00Z", content_id="c-1", network="linkedin")
    deleted = facts.event("2026-11-03T09:00:00Z", "share.deleted", share_event_id=share.id)
    state = apply(catalogue, [share, deleted])
    award = state.awards["first-share:standard"]
    assert award.status == REVOKED
    assert award.revoked_at == deleted.occurred_at
    assert award.reason == f"evidence reversed by share.deleted {deleted.id}"
    assert [(m["id"], m["status"]) for m in state.outbox] == [
        ("e-1:first-share:standard", "awarded"),
        ("e-1:first-share:standard", "revoked"),
    ]


def test_reversal_that_leaves_the_criterion_holding_revokes_nothing(catalogue, facts):
    first = facts.event("2026-11-02T09:00:00Z", content_id="c-1")
    second = facts.event("2026-11-02T10:00:00Z", content_id="c-2")
    third = facts.event("2026-11-02T11:00:00Z", content_id="c-3")
    deleted = facts.event("2026-11-03T09:00:00Z", "share.deleted", content_id="c-1")
    state = apply(catalogue, [first, second, third, deleted])
    assert state.awards["first-share:standard"].status == AWARDED
    assert state.awards["ambassador:bronze"].status == AWARDED


def test_reversal_below_a_count_tier_revokes_that_tier_only(catalogue, facts):
    shares = [facts.event("2026-11-02T09:00:00Z", content_id=f"c-{n}") for n in range(4)]
    deleted = facts.event("2026-11-03T09:00:00Z", "share.deleted", content_id="c-3")
    state = apply(catalogue, [*shares, deleted])
    assert state.awards["ambassador:silver"].status == REVOKED
    assert state.awards["ambassador:bronze"].status == AWARDED


def test_reversed_points_revoke_a_milestone_no_longer_reached(catalogue, facts):
    earned = facts.entry("2026-11-02T09:00:00Z", 120, event_id="ev-share")
    reversal = facts.entry(
        "2026-11-03T09:00:00Z", -120, event_id="ev-del", reverses="ev-share:rule"
    )
    state = apply(catalogue, [earned, reversal])
    award = state.awards["milestones:bronze"]
    assert award.status == REVOKED
    assert award.reason == "points reversed: ev-share:rule"


def test_a_badge_revoked_by_reversal_is_earned_again(catalogue, facts):
    share = facts.event("2026-11-02T09:00:00Z", content_id="c-1")
    deleted = facts.event("2026-11-03T09:00:00Z", "share.deleted", share_event_id=share.id)
    again = facts.event("2026-11-04T09:00:00Z", content_id="c-2")
    state = apply(catalogue, [share, deleted, again])
    award = state.awards["first-share:standard"]
    assert (award.status, award.evidence, award.revision) == (AWARDED, [again.id], 3)
    assert award.revoked_at is None


def test_an_admin_revocation_sticks(catalogue, facts):
    state = apply(catalogue, [facts.event("2026-11-02T09:00:00Z", content_id="c-1")])
    state.revoke(
        "first-share", "standard", "shared a competitor's post", facts.at("2026-11-05T00:00:00Z")
    )
    state.record_event(facts.event("2026-11-06T09:00:00Z", content_id="c-2"), catalogue, TZ)
    award = state.awards["first-share:standard"]
    assert (award.status, award.revoked_by, award.reason) == (
        REVOKED,
        "admin",
        "shared a competitor's post",
    )


def test_revoking_an_award_never_granted_is_not_found(catalogue):
    with pytest.raises(NotFound):
        EmployeeBadges(employee_id="e-1").revoke("first-share", "standard", "x", None)


# -- delivery -------------------------------------------------------------------------------


def test_redelivered_facts_change_nothing(catalogue, facts):
    share = facts.event("2026-11-02T09:00:00Z", content_id="c-1")
    points = facts.entry("2026-11-02T09:00:00Z", 150)
    state = apply(catalogue, [share, points])
    before = copy.deepcopy(state)
    assert state.record_event(share, catalogue, TZ) is False
    assert state.record_points(points, catalogue, TZ) is False
    assert state == before


def test_replay_gives_the_same_awards(catalogue, facts):
    ev = facts.event
    log = [
        ev("2026-12-16T09:00:00Z", content_id="c-1"),
        facts.entry("2026-12-16T09:00:00Z", 80),
        ev("2026-12-23T09:00:00Z", content_id="c-2"),
        facts.entry("2026-12-23T09:00:00Z", 80),
        ev("2026-12-30T09:00:00Z", content_id="c-3"),
        ev("2026-12-31T09:00:00Z", "share.deleted", content_id="c-2"),
        ev("2027-01-06T09:00:00Z", "course.completed", course_id="c-1"),
        ev("2027-01-07T09:00:00Z", "charter.acknowledged"),
    ]
    live = apply(catalogue, log)
    with_redeliveries = apply(catalogue, [*log[:4], *log[:4], *log[4:], log[-1]])
    replayed = apply(catalogue, log)
    assert live == replayed == with_redeliveries
    assert live.awards["weekly-sharer:bronze"].status == REVOKED


def test_state_survives_its_storage_form(catalogue, facts):
    state = apply(
        catalogue,
        [
            facts.event("2026-11-02T09:00:00Z", content_id="c-1"),
            facts.entry("2026-11-02T09:00:00Z", 120),
        ],
    )
    assert state_from_document(state_document(state)) == state


def test_a_reversal_entry_applies_once_whatever_its_sequence(catalogue, facts):
    earned = facts.entry("2026-11-02T09:00:00Z", 120, event_id="ev-share")
    later = facts.entry("2026-11-03T09:00:00Z", 5)
    # A reversal carrying the sequence of the entry it reverses (below the position).
    reversal = PointsFact(
        id="ev-del:rule",
        event_id="ev-del",
        employee_id="e-1",
        points=-120,
        occurred_at=facts.at("2026-11-04T09:00:00Z"),
        sequence=earned.sequence,
        reverses=earned.id,
    )
    state = apply(catalogue, [earned, later, reversal, reversal])
    assert state.totals["all"] == 5
    assert state.awards["milestones:bronze"].status == REVOKED


def test_an_event_no_badge_counts_asks_for_no_write(catalogue, facts):
    state = EmployeeBadges(employee_id="e-1")
    engaged = facts.event("2026-11-02T09:00:00Z", "share.engaged", clicks=3)
    assert state.record_event(engaged, catalogue, TZ) is False
    share = facts.event("2026-11-02T10:00:00Z", content_id="c-1")
    assert state.record_event(share, catalogue, TZ) is True
    assert state.record_event(engaged, catalogue, TZ) is False  # redelivered later
    assert state.event_position == share.sequence
