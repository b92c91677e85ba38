"""Properties of the core over generated logs: redeliveries change nothing, a replay gives
the same awards, and only reversals revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.badges.adapters.definitions import load_catalogue
from services.badges.domain.facts import ActionFact, PointsFact
from services.badges.domain.model import REVOKED, EmployeeBadges

CATALOGUE = load_catalogue()
TZ = "Europe/Paris"
START = datetime(2026, 12, 20, 9, tzinfo=UTC)

steps = st.lists(
    st.tuples(
        st.sampled_from(["share", "share", "delete", "course", "survey", "points", "reversal"]),
        st.integers(min_value=0, max_value=20),  # days after START (crosses the year, W53)
        st.integers(min_value=0, max_value=4),  # content / course / amount selector
    ),
    min_size=1,
    max_size=40,
)


def log_of(plan: list[tuple[str, int, int]]) -> list[ActionFact | PointsFact]:
    log: list[ActionFact | PointsFact] = []
    for sequence, (kind, day, pick) in enumerate(plan, start=1):
        at = START + timedelta(days=day, minutes=sequence)
        event_id = f"ev-{sequence}"
        if kind == "share":
            data = {"content_id": f"c-{pick}", "network": "linkedin" if pick % 2 else "x"}
            log.append(ActionFact(event_id, "content.shared", "e", at, sequence, data))
        elif kind == "delete":
            log.append(
                ActionFact(
                    event_id, "share.deleted", "e", at, sequence, {"content_id": f"c-{pick}"}
                )
            )
        elif kind == "course":
            data = {"course_id": f"dsk-10{pick}"}
            log.append(ActionFact(event_id, "course.completed", "e", at, sequence, data))
        elif kind == "survey":
            data = {"survey_id": f"s-{pick}", "question_id": "q", "kind": "pulse"}
            log.append(ActionFact(event_id, "survey.answered", "e", at, sequence, data))
        elif kind == "points":
            log.append(PointsFact(f"{event_id}:r", event_id, "e", 40 * (pick + 1), at, sequence))
        else:
            log.append(
                PointsFact(f"{event_id}:r", event_id, "e", -30, at, sequence, reverses="ev-0:r")
            )
    return log


def apply(log: list[ActionFact | PointsFact]) -> EmployeeBadges:
    state = EmployeeBadges(employee_id="e")
    for fact in log:
        if isinstance(fact, ActionFact):
            state.record_event(fact, CATALOGUE, TZ)
        else:
            state.record_points(fact, CATALOGUE, TZ)
    return state


@settings(max_examples=150, deadline=None)
@given(plan=steps, data=st.data())
def test_redeliveries_anywhere_give_the_same_state(plan, data):
    log = log_of(plan)
    redelivered: list[ActionFact | PointsFact] = []
    for index, fact in enumerate(log):
        redelivered.append(fact)
        # At-least-once: any earlier fact may come again after this one.
        again = data.draw(st.lists(st.integers(min_value=0, max_value=index), max_size=2))
        redelivered.extend(log[i] for i in again)
    assert apply(redelivered) == apply(log)


@settings(max_examples=150, deadline=None)
@given(plan=steps)
def test_only_reversals_revoke_and_every_award_has_evidence(plan):
    state = apply(log_of(plan))
    has_reversal = any(kind in ("delete", "reversal") for kind, _, _ in plan)
    revoked = [award for award in state.awards.values() if award.status == REVOKED]
    assert has_reversal or not revoked
    assert all(award.evidence for award in state.awards.values())
    assert all(award.reason for award in revoked)
