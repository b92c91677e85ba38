from datetime import UTC, datetime

import pytest

from cercle_common.periods import PeriodKeys, period_key, period_keys


def test_paris_midnight_moves_an_event_to_the_next_day_week_month_and_year() -> None:
    # 23:30 UTC on 31 December 2020 is already 1 January 2021 in Paris.
    keys = period_keys(datetime(2020, 12, 31, 23, 30, tzinfo=UTC), "Europe/Paris")
    assert keys == PeriodKeys(
        day="2021-01-01", week="2020-W53", month="2021-01", quarter="2021-Q1", year="2021"
    )


def test_same_instant_in_utc_stays_in_the_old_year() -> None:
    keys = period_keys(datetime(2020, 12, 31, 23, 30, tzinfo=UTC), "UTC")
    assert (keys.day, keys.week, keys.quarter) == ("2020-12-31", "2020-W53", "2020-Q4")


def test_iso_week_year_differs_from_calendar_year_at_the_edges() -> None:
    assert period_key("week", datetime(2024, 12, 30, 12, tzinfo=UTC), "UTC") == "2025-W01"


def test_unknown_period_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="fortnight"):
        period_key("fortnight", datetime(2024, 1, 1, tzinfo=UTC), "UTC")
