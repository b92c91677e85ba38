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
    group_enps,
    latest_per_employee,
    parse_month_start,
    published_slices,
    slices_of,
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


def test_a_site_one_person_larger_than_a_team_is_withdrawn_not_the_team() -> None:
    # growth: 5 people at paris; paris also holds one of sales: paris - growth = that one.
    team = [_answer(f"g-{n}") for n in range(5)]
    sales = [_answer("s-0", 0, team="sales")] + [
        _answer(f"s-{n}", 10, team="sales", site="lyon") for n in range(1, 5)
    ]
    everyone = team + sales
    assert group_enps(everyone, team=None, site="paris", min_group=5).enough_answers is False
    for name in ("growth", "sales"):
        shown = group_enps(everyone, team=name, site=None, min_group=5)
        assert (shown.enough_answers, shown.n) == (True, 5)


def test_an_answer_is_in_the_slices_a_query_can_name() -> None:
    assert slices_of(_answer("e-1")) == {
        (None, None),
        ("growth", None),
        (None, "paris"),
        ("growth", "paris"),
    }
    nowhere = EnpsAnswer("e-2", 9, "2026-11", None, "paris", ("2026-11-02", 1))
    assert slices_of(nowhere) == {(None, None), (None, "paris")}


def test_published_slices_withdraw_the_cheapest_slices_that_isolate_a_small_block() -> None:
    # The organisation (11) minus growth (5) minus sales (5) is ops' one answer. Keeping
    # the organisation and paris (11 each) and withdrawing growth and growth at paris
    # (5 each, a tie with sales broken by name) costs the fewest answers' worth of figures.
    answers = (
        [_answer(f"g-{n}") for n in range(5)]
        + [_answer(f"s-{n}", team="sales") for n in range(5)]
        + [_answer("o-0", team="ops")]
    )
    assert published_slices(answers, 5) == {
        (None, None),
        (None, "paris"),
        ("sales", None),
        ("sales", "paris"),
    }
    assert published_slices(reversed(answers), 5) == published_slices(answers, 5)


def test_a_month_where_nobody_is_published_needs_no_withdrawal() -> None:
    answers = [_answer(f"g-{n}") for n in range(4)]
    assert published_slices(answers, 5) == frozenset()
