"""Every rule kind on the pure core, with the edges: caps at the boundary, cooldowns,
campaign edges, reversal after caps, time-zone midnight, ISO week 53."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cercle_common.errors import ValidationError
from services.points.adapters.rules_file import load_rules
from services.points.domain.model import REMEMBERED_EVENTS, EmployeeState, Event
from services.points.domain.rules import RuleSet, parse_rules
from services.points.domain.scoring import apply_event, apply_events

PARIS = "Europe/Paris"
NOON = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
_sequence = itertools.count(1)


def event(
    event_type: str,
    data: dict[str, Any],
    at: datetime = NOON,
    event_id: str | None = None,
    sequence: int | None = None,
    accepted_at: datetime | None = None,
) -> Event:
    number = sequence if sequence is not None else next(_sequence)
    return Event(
        id=event_id or f"ev-{number}",
        type=event_type,
        employee_id="e-1",
        occurred_at=at,
        sequence=number,
        data=data,
        accepted_at=accepted_at,
    )


def share(content: str = "c-1", network: str = "linkedin", **extra: Any) -> dict[str, Any]:
    return {"content_id": content, "network": network, **extra}


def rules(*rule_bodies: dict[str, Any], campaigns: list[dict[str, Any]] | None = None) -> RuleSet:
    return parse_rules({"version": 3, "rules": list(rule_bodies), "campaigns": campaigns or []})


SHARE_RULE = {
    "id": "share",
    "event": "content.shared",
    "label": "shared on {network}",
    "points": 10,
    "when": {"network": ["linkedin"]},
    "once_per": ["content_id", "network"],
    "caps": {"day": 3, "week": 5},
}


def points_of(state: EmployeeState, rule_set: RuleSet, *events: Event) -> list[int]:
    return [
        sum(entry.points for entry in apply_event(state, item, rule_set, PARIS)) for item in events
    ]


def test_share_on_linkedin_scores_ten_with_an_explanation() -> None:
    state = EmployeeState("e-1")
    (entry,) = apply_event(state, event("content.shared", share()), load_rules(), PARIS)
    assert entry.points == 10
    assert entry.id.endswith(":share.professional")
    assert entry.rules_version == 1
    assert (
        entry.explanation == "shared on LinkedIn: +10; daily cap 3, 1 used; weekly cap 10, 1 used"
    )
    assert state.total("all") == 10 and state.total("2026-11-26") == 10


def test_second_share_of_same_content_scores_nothing() -> None:
    state = EmployeeState("e-1")
    rule_set = rules(SHARE_RULE)
    assert points_of(
        state, rule_set, event("content.shared", share()), event("content.shared", share())
    ) == [10, 0]


def test_same_content_on_another_network_scores_again() -> None:
    rule_set = rules({**SHARE_RULE, "when": {"network": ["linkedin", "xing"]}})
    state = EmployeeState("e-1")
    results = points_of(
        state,
        rule_set,
        event("content.shared", share()),
        event("content.shared", share(network="xing")),
    )
    assert results == [10, 10]


def test_network_outside_the_condition_earns_no_entry() -> None:
    state = EmployeeState("e-1")
    assert (
        apply_event(state, event("content.shared", share(network="x")), rules(SHARE_RULE), PARIS)
        == []
    )


def test_daily_cap_allows_exactly_the_cap_then_explains_the_refusal() -> None:
    state = EmployeeState("e-1")
    rule_set = rules(SHARE_RULE)
    shares = [event("content.shared", share(f"c-{n}")) for n in range(4)]
    entries = [apply_event(state, item, rule_set, PARIS)[0] for item in shares]
    assert [entry.points for entry in entries] == [10, 10, 10, 0]
    assert "daily cap 3, 3 used" in entries[2].explanation
    assert entries[3].explanation == "shared on LinkedIn: +0; daily cap 3 reached"


def test_daily_cap_resets_at_midnight_in_the_organisation_time_zone() -> None:
    state = EmployeeState("e-1")
    rule_set = rules(SHARE_RULE)
    # 22:59 UTC is 23:59 in Paris (winter); 23:00 UTC is already the next day there.
    before = datetime(2026, 11, 26, 22, 59, tzinfo=UTC)
    after = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
    day_one = [event("content.shared", share(f"c-{n}"), at=before) for n in range(4)]
    day_two = event("content.shared", share("c-9"), at=after)
    assert points_of(state, rule_set, *day_one, day_two) == [10, 10, 10, 0, 10]
    assert state.total("2026-11-26") == 30 and state.total("2026-11-27") == 10


def test_weekly_cap_counts_across_days_of_one_iso_week() -> None:
    state = EmployeeState("e-1")
    rule_set = rules(SHARE_RULE)
    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    week = [
        event("content.shared", share(f"c-{n}"), at=monday + timedelta(days=n // 2))
        for n in range(6)
    ]
    next_monday = event("content.shared", share("c-99"), at=monday + timedelta(days=7))
    assert points_of(state, rule_set, *week, next_monday) == [10, 10, 10, 10, 10, 0, 10]


def test_iso_week_53_is_its_own_week_across_the_new_year() -> None:
    state = EmployeeState("e-1")
    rule_set = rules(SHARE_RULE)
    # 2026-12-31 and 2027-01-01 both fall in ISO week 2026-W53.
    december = datetime(2026, 12, 31, 10, tzinfo=UTC)
    january = datetime(2027, 1, 1, 10, tzinfo=UTC)
    points_of(state, rule_set, event("content.shared", share("a"), at=december))
    points_of(state, rule_set, event("content.shared", share("b"), at=january))
    assert state.total("2026-W53") == 20
    assert state.total("2026") == 10 and state.total("2027") == 10
    assert state.total("2026-Q4") == 10 and state.total("2027-Q1") == 10


def test_cooldown_refuses_until_it_is_over_and_then_scores() -> None:
    rule_set = rules({"id": "x", "event": "content.shared", "points": 5, "cooldown_minutes": 10})
    state = EmployeeState("e-1")
    start = NOON
    results = points_of(
        state,
        rule_set,
        event("content.shared", share("a"), at=start),
        event("content.shared", share("b"), at=start + timedelta(minutes=9, seconds=59)),
        event("content.shared", share("c"), at=start + timedelta(minutes=10)),
    )
    assert results == [5, 0, 5]


CAMPAIGN = {
    "id": "green",
    "multiplier": 2,
    "start": "2026-11-23T00:00:00+01:00",
    "end": "2026-11-30T00:00:00+01:00",
    "tags": ["green"],
    "rules": ["share"],
}


@pytest.mark.parametrize(
    ("at", "tags", "expected"),
    [
        (datetime(2026, 11, 22, 22, 59, 59, tzinfo=UTC), ["green"], 10),  # just before start
        (datetime(2026, 11, 22, 23, 0, 0, tzinfo=UTC), ["green"], 20),  # start is inclusive
        (datetime(2026, 11, 29, 22, 59, 59, tzinfo=UTC), ["green"], 20),  # last second
        (datetime(2026, 11, 29, 23, 0, 0, tzinfo=UTC), ["green"], 10),  # end is exclusive
        (datetime(2026, 11, 25, 12, tzinfo=UTC), ["other"], 10),  # tag does not match
        (datetime(2026, 11, 25, 12, tzinfo=UTC), [], 10),  # untagged content
    ],
)
def test_campaign_multiplier_applies_within_its_edges_to_tagged_content(
    at: datetime, tags: list[str], expected: int
) -> None:
    rule_set = rules(SHARE_RULE, campaigns=[CAMPAIGN])
    (entry,) = apply_event(
        EmployeeState("e-1"), event("content.shared", share(tags=tags), at=at), rule_set, PARIS
    )
    assert entry.points == expected
    if expected == 20:
        assert "x2, campaign green" in entry.explanation


def test_overlapping_campaigns_take_the_best_multiplier_not_the_product() -> None:
    other = {**CAMPAIGN, "id": "half", "multiplier": 1.5, "tags": []}
    rule_set = rules(SHARE_RULE, campaigns=[CAMPAIGN, other])
    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    (tagged,) = apply_event(
        EmployeeState("e-1"), event("content.shared", share(tags=["green"]), at=at), rule_set, PARIS
    )
    (plain,) = apply_event(
        EmployeeState("e-1"), event("content.shared", share(), at=at), rule_set, PARIS
    )
    assert (tagged.points, plain.points) == (20, 15)


ENGAGEMENT_RULE = {
    "id": "engaged",
    "kind": "engagement",
    "event": "share.engaged",
    "per": {"clicks": 1, "reactions": 2},
    "cap_per_share": 30,
}
REVERSAL_RULE = {
    "id": "deleted",
    "kind": "reversal",
    "event": "share.deleted",
    "label": "share deleted",
}


def test_engagement_counts_are_cumulative_and_capped_per_share() -> None:
    rule_set = rules(SHARE_RULE, ENGAGEMENT_RULE)
    state = EmployeeState("e-1")
    shared = event("content.shared", share())
    results = points_of(
        state,
        rule_set,
        shared,
        event("share.engaged", {"share_event_id": shared.id, "clicks": 4, "reactions": 1}),
        event("share.engaged", {"share_event_id": shared.id, "clicks": 10, "reactions": 5}),
        event("share.engaged", {"share_event_id": shared.id, "clicks": 50, "reactions": 50}),
        event("share.engaged", {"share_event_id": shared.id, "clicks": 60, "reactions": 50}),
    )
    assert results == [10, 6, 14, 10, 0]
    assert state.total("all") == 40


def test_engagement_on_an_unknown_share_earns_nothing() -> None:
    rule_set = rules(SHARE_RULE, ENGAGEMENT_RULE)
    engaged = event("share.engaged", {"share_event_id": "nope", "clicks": 4})
    assert apply_event(EmployeeState("e-1"), engaged, rule_set, PARIS) == []


def test_deleting_a_share_reverses_its_points_and_engagement() -> None:
    rule_set = rules(SHARE_RULE, ENGAGEMENT_RULE, REVERSAL_RULE)
    state = EmployeeState("e-1")
    shared = event("content.shared", share())
    points_of(
        state, rule_set, shared, event("share.engaged", {"share_event_id": shared.id, "clicks": 7})
    )
    (reversal,) = apply_event(
        state, event("share.deleted", {"share_event_id": shared.id}), rule_set, PARIS
    )
    assert reversal.points == -17
    assert reversal.reverses == f"{shared.id}:share"
    assert state.total("all") == 0
    again = event("share.deleted", {"share_event_id": shared.id})
    assert apply_event(state, again, rule_set, PARIS) == []
    late = event("share.engaged", {"share_event_id": shared.id, "clicks": 20})
    assert points_of(state, rule_set, late) == [0]


def test_reversal_after_caps_reverses_only_what_was_earned_and_keeps_the_cap_used() -> None:
    rule_set = rules(SHARE_RULE, REVERSAL_RULE)
    state = EmployeeState("e-1")
    shares = [event("content.shared", share(f"c-{n}")) for n in range(4)]
    assert points_of(state, rule_set, *shares) == [10, 10, 10, 0]
    capped_delete = event("share.deleted", {"share_event_id": shares[3].id})
    first_delete = event("share.deleted", {"share_event_id": shares[0].id})
    assert points_of(state, rule_set, capped_delete, first_delete) == [0, -10]
    # The deleted share's cap slot is not given back: deleting cannot be used to farm.
    assert points_of(state, rule_set, event("content.shared", share("c-new"))) == [0]
    # Nor can the same content be shared again for points.
    assert points_of(state, rule_set, event("content.shared", share("c-0"))) == [0]
    assert state.total("all") == 20


def test_course_below_the_minimum_score_earns_nothing_and_can_score_later() -> None:
    rule_set = load_rules()
    state = EmployeeState("e-1")
    low = event("course.completed", {"course_id": "k-1", "score": 49, "track": "ai"})
    passed = event("course.completed", {"course_id": "k-1", "score": 50, "track": "ai"})
    again = event("course.completed", {"course_id": "k-1", "score": 90, "track": "ai"})
    assert points_of(state, rule_set, low, passed, again) == [0, 20, 0]


def test_charter_scores_once_whatever_the_version() -> None:
    rule_set = load_rules()
    state = EmployeeState("e-1")
    first = event("charter.acknowledged", {"charter_id": "ch", "version": 1})
    second = event("charter.acknowledged", {"charter_id": "ch", "version": 2})
    assert points_of(state, rule_set, first, second) == [15, 0]


def test_survey_participation_scores_once_per_survey_and_ignores_any_value() -> None:
    rule_set = load_rules()
    state = EmployeeState("e-1")
    low = event(
        "survey.answered", {"survey_id": "s-1", "question_id": "q1", "kind": "enps", "value": 0}
    )
    high = event(
        "survey.answered", {"survey_id": "s-2", "question_id": "q1", "kind": "enps", "value": 10}
    )
    other_question = event(
        "survey.answered", {"survey_id": "s-1", "question_id": "q2", "kind": "pulse"}
    )
    assert points_of(state, rule_set, low, high, other_question) == [5, 5, 0]


def test_admin_adjustment_adds_or_removes_the_given_points_with_the_reason() -> None:
    rule_set = load_rules()
    state = EmployeeState("e-1")
    (entry,) = apply_event(
        state,
        event("points.adjusted", {"points": -7, "reason": "duplicate share"}),
        rule_set,
        PARIS,
    )
    assert entry.points == -7 and "duplicate share" in entry.explanation


def test_an_event_whose_id_was_applied_is_skipped_whatever_its_sequence() -> None:
    rule_set = rules(SHARE_RULE)
    state = EmployeeState("e-1")
    first = event("content.shared", share("a"), event_id="ev-a", sequence=100)
    apply_event(state, first, rule_set, PARIS)
    assert apply_event(state, first, rule_set, PARIS) == []
    # Published again under a new sequence (a re-sent event): still the same event.
    again = event("content.shared", share("a"), event_id="ev-a", sequence=140)
    scored = apply_events(state, [again], rule_set, PARIS)
    assert scored.entries == [] and scored.already_applied == ["ev-a"]
    assert state.total("all") == 10 and state.last_sequence == 100 and state.applied == 1


def test_a_new_id_at_or_below_the_position_is_applied() -> None:
    rule_set = rules(SHARE_RULE)
    state = EmployeeState("e-1")
    apply_event(state, event("content.shared", share("a"), sequence=100), rule_set, PARIS)
    same = event("content.shared", share("b"), event_id="ev-same", sequence=100)
    earlier = event("content.shared", share("c"), event_id="ev-earlier", sequence=99)
    scored = apply_events(state, [same, earlier], rule_set, PARIS)
    assert [entry.points for entry in scored.entries] == [10, 10]
    assert sorted(scored.behind_position) == ["ev-earlier", "ev-same"]
    assert state.total("all") == 30 and state.last_sequence == 100 and state.applied == 3


def test_applied_ids_are_remembered_up_to_a_bound_and_older_sequences_are_redeliveries() -> None:
    rule_set = rules({"id": "any", "event": "course.completed", "points": 1})
    state = EmployeeState("e-1")
    history = [
        event("course.completed", {"course_id": f"k{n}"}, sequence=n)
        for n in range(1, REMEMBERED_EVENTS + 11)
    ]
    apply_events(state, history, rule_set, PARIS)
    assert len(state.recent) == REMEMBERED_EVENTS and state.forgotten_through == 10
    # The oldest ids are forgotten, but their sequences tell a redelivery apart.
    assert apply_events(state, history[:20], rule_set, PARIS).entries == []
    assert state.total("all") == REMEMBERED_EVENTS + 10
    assert EmployeeState.from_dict(state.to_dict()) == state


def test_a_state_stored_before_ids_were_remembered_covers_its_whole_position() -> None:
    rule_set = rules(SHARE_RULE)
    stored = EmployeeState("e-1", last_sequence=50).to_dict()
    for name in ("applied", "recent", "forgotten_through"):
        del stored[name]
    state = EmployeeState.from_dict(stored)
    assert (
        apply_event(state, event("content.shared", share("a"), sequence=50), rule_set, PARIS) == []
    )
    assert apply_event(state, event("content.shared", share("b"), sequence=51), rule_set, PARIS)


def test_a_back_dated_share_counts_in_the_cap_of_the_day_it_was_accepted() -> None:
    rule_set = rules(SHARE_RULE)
    state = EmployeeState("e-1")
    today = [
        event("content.shared", share(f"c{n}"), accepted_at=NOON + timedelta(minutes=n))
        for n in range(3)
    ]
    assert points_of(state, rule_set, *today) == [10, 10, 10]
    # Claimed to have happened on an empty day a month ago, accepted today: capped.
    back_dated = event(
        "content.shared",
        share("old"),
        at=NOON - timedelta(days=30),
        accepted_at=NOON + timedelta(minutes=5),
    )
    (entry,) = apply_event(state, back_dated, rule_set, PARIS)
    assert entry.points == 0 and "daily cap 3 reached" in entry.explanation


def test_a_back_dated_event_cannot_dodge_a_cooldown_nor_reach_a_past_campaign() -> None:
    rule_set = rules(
        {"id": "x", "event": "content.shared", "points": 5, "cooldown_minutes": 60},
        campaigns=[
            {
                "id": "past",
                "multiplier": 3,
                "start": "2026-10-01T00:00:00+02:00",
                "end": "2026-10-08T00:00:00+02:00",
            }
        ],
    )
    state = EmployeeState("e-1")
    assert points_of(state, rule_set, event("content.shared", share("a"), accepted_at=NOON)) == [5]
    in_the_past = event(
        "content.shared",
        share("b"),
        at=datetime(2026, 10, 2, 9, tzinfo=UTC),
        accepted_at=NOON + timedelta(minutes=1),
    )
    (entry,) = apply_event(state, in_the_past, rule_set, PARIS)
    assert entry.points == 0 and "cooldown" in entry.explanation
    later = event(
        "content.shared",
        share("c"),
        at=datetime(2026, 10, 2, 9, tzinfo=UTC),
        accepted_at=NOON + timedelta(hours=2),
    )
    (entry,) = apply_event(state, later, rule_set, PARIS)
    assert entry.points == 5  # no x3: the campaign ended before it was accepted
    # The leaderboard periods still follow when it happened.
    assert state.total("2026-10-02") == 5 and state.total("2026-11-26") == 5


def test_an_instant_the_periods_cannot_hold_is_refused_naming_the_field() -> None:
    too_late = event("content.shared", share(), at=datetime(9999, 12, 31, 23, 30, tzinfo=UTC))
    with pytest.raises(ValidationError) as raised:
        apply_event(EmployeeState("e-1"), too_late, rules(SHARE_RULE), PARIS)
    assert raised.value.field == "occurred_at"


def test_totals_remember_the_sequence_at_which_they_were_reached() -> None:
    rule_set = rules(SHARE_RULE)
    state = EmployeeState("e-1")
    apply_event(state, event("content.shared", share("a"), sequence=10), rule_set, PARIS)
    apply_event(state, event("content.shared", share("a"), sequence=11), rule_set, PARIS)
    assert state.totals["all"] == [10, 10]


def test_replaying_the_same_events_gives_the_same_entries_and_state() -> None:
    rule_set = load_rules()
    shared = event("content.shared", share(tags=["x"]))
    history = [
        shared,
        event("share.engaged", {"share_event_id": shared.id, "clicks": 3, "comments": 1}),
        event("course.completed", {"course_id": "k", "score": 70}),
        event("share.deleted", {"share_event_id": shared.id}),
        *[event("content.shared", share(f"c{n}", network="x")) for n in range(5)],
    ]
    first_state, second_state = EmployeeState("e-1"), EmployeeState("e-1")
    first = apply_events(first_state, history, rule_set, PARIS).entries
    second = apply_events(second_state, list(reversed(history)), rule_set, PARIS).entries
    assert first == second
    assert first_state.to_dict() == second_state.to_dict()


@pytest.mark.parametrize(
    ("event_type", "data", "field"),
    [
        ("content.shared", {"network": "linkedin"}, "data.content_id"),
        ("content.shared", {"content_id": "c", "network": "linkedin", "tags": "x"}, "data.tags"),
        ("share.engaged", {"share_event_id": "s", "clicks": -1}, "data.clicks"),
        ("course.completed", {"course_id": "k", "score": 101}, "data.score"),
        ("points.adjusted", {"points": "5", "reason": "r"}, "data.points"),
        ("points.adjusted", {"points": 5}, "data.reason"),
        ("employee.upserted", {}, "type"),
    ],
)
def test_events_the_rules_cannot_read_are_refused_naming_the_field(
    event_type: str, data: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        apply_event(EmployeeState("e-1"), event(event_type, data), load_rules(), PARIS)
    assert raised.value.field == field


def test_state_survives_a_round_trip_through_its_stored_form() -> None:
    state = EmployeeState("e-1")
    shared = event("content.shared", share())
    apply_events(
        state,
        [shared, event("share.engaged", {"share_event_id": shared.id, "clicks": 2})],
        load_rules(),
        PARIS,
    )
    assert EmployeeState.from_dict(state.to_dict()) == state
