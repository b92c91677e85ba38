"""A fact whose instant the organisation's calendar cannot place is refused, naming
`occurred_at`, before it changes anything (the batch handler's side is in
test_service_layer)."""

from __future__ import annotations

import copy

import pytest

from cercle_common.errors import ValidationError
from services.badges.domain.model import EmployeeBadges
from tests.unit.badges.conftest import TZ


def test_year_one_is_placed_in_the_calendar(catalogue, facts):
    state = EmployeeBadges(employee_id="e-1")
    assert state.record_event(facts.event("0001-01-01T00:30:00Z", content_id="c"), catalogue, TZ)
    assert state.record_points(facts.entry("0001-01-01T00:30:00Z", 10), catalogue, TZ)
    assert state.totals["month:0001-01"] == 10


def test_an_instant_past_the_calendar_is_refused_before_changing_anything(catalogue, facts):
    state = EmployeeBadges(employee_id="e-1")
    before = copy.deepcopy(state)
    with pytest.raises(ValidationError) as refused:
        state.record_event(facts.event("9999-12-31T23:30:00Z", content_id="c"), catalogue, TZ)
    assert refused.value.field == "occurred_at"
    with pytest.raises(ValidationError):
        state.record_points(facts.entry("9999-12-31T23:30:00Z", 10), catalogue, TZ)
    assert state == before
