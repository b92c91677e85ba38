"""Board scores and periods (cursors: cercle_common; the core's purity:
tests/unit/test_domain_purity.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cercle_common.errors import ValidationError
from services.points.domain.ranking import (
    MAX_BOARD_POINTS,
    board_score,
    page_size,
    points_of,
    resolve_period,
)


def test_more_points_rank_first_then_who_reached_the_score_first() -> None:
    assert board_score(11, 999) > board_score(10, 1)
    assert board_score(10, 5) > board_score(10, 6)
    assert board_score(-1, 1) < board_score(0, 2**32 - 1)


def test_board_scores_stay_exact_in_a_double_at_the_limits() -> None:
    for points, sequence in [(MAX_BOARD_POINTS, 0), (-MAX_BOARD_POINTS, 2**32 - 1), (3, 12345)]:
        score = board_score(points, sequence)
        assert float(score) == score
        assert points_of(float(score)) == points
    assert float(board_score(MAX_BOARD_POINTS, 1)) != float(board_score(MAX_BOARD_POINTS, 2))


def test_page_size_above_the_limit_names_first() -> None:
    assert page_size("100", 10) == 100
    with pytest.raises(ValidationError) as raised:
        page_size("101", 10)
    assert raised.value.field == "first"


def test_period_of_a_local_date_and_default_today_in_the_time_zone() -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # already 2027 in Paris
    assert resolve_period("day", None, "Europe/Paris", late).key == "2027-01-01"
    assert resolve_period("week", "2027-01-01", "Europe/Paris", late).key == "2026-W53"
    assert resolve_period("quarter", "2026-11-26", "Europe/Paris", late).key == "2026-Q4"
    assert resolve_period("all", None, "Europe/Paris", late).key == "all"
    with pytest.raises(ValidationError) as raised:
        resolve_period("fortnight", None, "Europe/Paris", late)
    assert raised.value.field == "period"
    with pytest.raises(ValidationError) as raised:
        resolve_period("day", "26/11/2026", "Europe/Paris", late)
    assert raised.value.field == "at"
