"""Directory records and eNPS arithmetic."""

from __future__ import annotations

from datetime import date

import pytest

from cercle_common.errors import ValidationError
from services.events.domain.directory import parse_record, same_record, snapshot
from services.events.domain.enps import (
    EnpsAnswer,
    check_window,
    compute_enps,
    compute_monthly_enps,
    group_enps,
    isolable_by_differencing,
    latest_per_employee,
    parse_month_start,
)

RECORD = {"display_name": "Ann Lee", "email": "ann@example.org", "team": "growth"}


def test_record_defaults_to_visible_active_full_time() -> None:
    record = parse_record(RECORD)
    assert (record.visibility, record.active, record.fte) == ("visible", True, 1.0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"visibility": "pseudonym"}, "pseudonym"),
        ({"visibility": "secret"}, "visibility"),
        ({"fte": 0}, "fte"),
        ({"fte": 1.5}, "fte"),
        ({"country": "fr"}, "country"),
        ({"active": "yes"}, "active"),
        ({"shoe_size": 42}, "shoe_size"),
        ({"display_name": ""}, "display_name"),
    ],
)
def test_bad_record_names_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_record({**RECORD, **change})
    assert caught.value.field == field


def test_snapshot_carries_no_name_nor_email() -> None:
    message = snapshot("e-1", parse_record(RECORD).as_dict(), 3)
    assert "display_name" not in message and "email" not in message
    assert message["version"] == 3 and message["team"] == "growth"


def test_identical_record_changes_nothing() -> None:
    record = parse_record(RECORD)
    assert same_record({**record.as_dict(), "version": 2}, record)
    assert not same_record({**record.as_dict(), "erased": True}, record)


def test_enps_counts_promoters_passives_detractors() -> None:
    result = compute_enps([10, 9, 9, 8, 7, 6, 0, 3, 10, 9], min_group=5)
    assert result.as_dict() == {
        "enough_answers": True,
        "n": 10,
        "promoters": 50.0,
        "passives": 20.0,
        "detractors": 30.0,
        "enps": 20.0,
    }


def test_enps_of_a_group_under_the_threshold_shows_no_figures() -> None:
    body = compute_enps([10, 10, 10, 10], min_group=5).as_dict()
    assert body["enough_answers"] is False
    assert "n" not in body and "enps" not in body


def test_enps_at_the_threshold_is_shown() -> None:
    assert compute_enps([0, 0, 0, 0, 0], min_group=5).enps == -100.0


def test_window_bounds_must_be_month_starts() -> None:
    assert parse_month_start("2026-10-01", "from") == date(2026, 10, 1)
    for bad in ("2026-10-02", "2026-10", "2026-13-01", "yesterday"):
        with pytest.raises(ValidationError) as caught:
            parse_month_start(bad, "to")
        assert caught.value.field == "to"


def test_window_end_must_follow_start() -> None:
    with pytest.raises(ValidationError) as caught:
        check_window(date(2026, 10, 1), date(2026, 10, 1))
    assert caught.value.field == "to"


def test_a_month_with_too_few_answers_hides_the_whole_window() -> None:
    # Oct-Dec minus Nov-Dec would otherwise reveal October's two answers.
    window = {"2026-10": [0, 10], "2026-11": [9, 9, 9, 9, 9], "2026-12": [8, 8, 8, 8, 8]}
    assert not compute_monthly_enps(window, min_group=5).enough_answers
    later = {"2026-11": [9, 9, 9, 9, 9], "2026-12": [8, 8, 8, 8, 8]}
    assert compute_monthly_enps(later, min_group=5).as_dict() == {
        "enough_answers": True,
        "n": 10,
        "promoters": 50.0,
        "passives": 50.0,
        "detractors": 0.0,
        "enps": 50.0,
    }


def _answer(
    employee: str,
    score: int = 9,
    *,
    team: str = "growth",
    site: str = "paris",
    month: str = "2026-11",
    order: tuple[str, int] = ("2026-11-02", 1),
) -> EnpsAnswer:
    return EnpsAnswer(employee, score, month, team, site, order)


def test_padding_a_survey_with_extra_questions_adds_no_answer() -> None:
    padded = [
        _answer("e-1", 0, order=("2026-11-02", 1)),
        _answer("e-1", 10, order=("2026-11-03", 2)),  # the same person, another question id
        _answer("e-1", 10, order=("2026-11-03", 3)),
    ]
    assert [(a.employee_id, a.order) for a in latest_per_employee(padded)] == [
        ("e-1", ("2026-11-03", 3))
    ]


def test_a_site_one_person_larger_than_a_team_isolates_nobody() -> None:
    # growth: 5 people at paris; paris also holds one of sales: paris - growth = that one.
    team = [_answer(f"g-{n}") for n in range(5)]
    sales = [_answer("s-0", 0, team="sales")] + [
        _answer(f"s-{n}", 10, team="sales", site="lyon") for n in range(1, 5)
    ]
    everyone = team + sales
    assert compute_enps([a.score for a in team], 5).enough_answers  # large enough alone
    assert group_enps(everyone, team="growth", site=None, min_group=5).enough_answers is False
    assert group_enps(everyone, team=None, site="paris", min_group=5).enough_answers is False
    shown = group_enps(everyone, team="sales", site=None, min_group=5)
    assert (shown.enough_answers, shown.n) == (True, 5)  # differs from every group by >= 5


def test_differencing_needs_a_difference_of_one_to_k_minus_one() -> None:
    team = {"a", "b", "c", "d", "e"}
    assert isolable_by_differencing(team, [team | {"f"}], 5)
    assert isolable_by_differencing(team, [team - {"e"}], 5)
    assert not isolable_by_differencing(team, [team], 5)
    assert not isolable_by_differencing(team, [team | {"f", "g", "h", "i", "j"}], 5)
