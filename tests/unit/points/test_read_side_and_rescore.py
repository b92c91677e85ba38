"""The read side and the rescore of the service layer, over the fakes of its ports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cercle_common.cursors import SignedCursors
from cercle_common.envelope import Envelope
from cercle_common.errors import NotFound, ValidationError
from cercle_common.messaging import Record
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.adapters.rules_file import load_rules
from services.points.handlers import (
    BoardQuery,
    PointsProcessor,
    PointsQueries,
    rebuild_index,
    rescore_from_history,
)
from tests.unit.points.fakes import FakeBoardIndex, FakeEntryPublisher, FakeLedgerStore

TZ = "Europe/Paris"
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
ALL = BoardQuery(period="all", at=None)


def employee(employee_id: str, offset: int, **fields: Any) -> Record:
    body = json.dumps({"employee_id": employee_id, "team": "t", "site": "s", **fields})
    return Record(EMPLOYEES, 0, offset, employee_id.encode(), body.encode())


def share(employee_id: str, sequence: int, content: str, event_id: str | None = None) -> Record:
    envelope = Envelope(
        id=event_id or f"ev-{sequence}",
        type="content.shared",
        occurred_at=datetime(2026, 11, 26, 9, tzinfo=UTC),
        employee_id=employee_id,
        data={"content_id": content, "network": "linkedin"},
        sequence=sequence,
    )
    return Record(EVENTS, 0, sequence, employee_id.encode(), envelope.to_json())


DIRECTORY = [
    employee("e-a", 1),
    employee("e-p", 2, visibility="pseudonym", pseudonym="Owl"),
    employee("e-h", 3, visibility="hidden"),
]
EVENTS_LOG = [
    share("e-a", 10, "c1"),
    share("e-p", 11, "c1"),
    share("e-p", 12, "c2"),
    share("e-h", 13, "c1"),
    share("e-h", 14, "c2"),
    share("e-h", 15, "c3"),
    share("e-a", 16, "c1", event_id="ev-10"),  # the first one again, under a new sequence
]


@pytest.fixture
def served() -> tuple[PointsQueries, FakeLedgerStore, FakeBoardIndex]:
    store, index = FakeLedgerStore(), FakeBoardIndex()
    processor = PointsProcessor(store, index, FakeEntryPublisher(), load_rules(), TZ)
    assert processor.handle_batch(DIRECTORY + EVENTS_LOG) == []
    queries = PointsQueries(index, store, TZ, SignedCursors("secret", "points-pages"))
    return queries, store, index


def test_a_hidden_employee_ranks_where_they_would_stand_and_is_in_no_entry(served: Any) -> None:
    queries, _, _ = served
    board = queries.employees_board(ALL, 10, None, NOW)
    assert [(e["rank"], e["employee_id"], e["points"]) for e in board["entries"]] == [
        (1, None, 20),
        (2, "e-a", 10),
    ]
    around = queries.around("e-h", ALL, 2, NOW)
    assert (around["rank"], around["points"], around["listed"]) == (1, 30, False)
    assert "e-h" not in [entry["employee_id"] for entry in around["entries"]]


def test_a_pseudonymous_employee_shows_only_the_pseudonym(served: Any) -> None:
    queries, _, _ = served
    top = queries.employees_board(ALL, 1, None, NOW)["entries"][0]
    assert (top["employee_id"], top["pseudonym"]) == (None, "Owl")


def test_groups_count_listed_members_only(served: Any) -> None:
    queries, _, _ = served
    teams = queries.groups_board("team", "all", None, "per_active_member", 10, None, NOW)
    assert teams["entries"] == [
        {"rank": 1, "team_id": "t", "points": 30, "active_members": 2, "score": 15.0}
    ]


def test_a_cursor_of_another_board_or_ledger_is_refused_naming_after(served: Any) -> None:
    queries, _, _ = served
    page = queries.employees_board(ALL, 1, None, NOW)
    after = page["page_info"]["end_cursor"]
    assert queries.employees_board(ALL, 1, after, NOW)["entries"][0]["rank"] == 2
    team = BoardQuery(period="all", at=None, scope="team", team_id="t")
    ledger = queries.ledger("e-a", 1, None)["page_info"]["end_cursor"]
    for attempt in (
        lambda: queries.employees_board(team, 1, after, NOW),
        lambda: queries.employees_board(ALL, 1, ledger, NOW),
        lambda: queries.ledger("e-p", 1, ledger),
    ):
        with pytest.raises(ValidationError) as refused:
            attempt()
        assert refused.value.field == "after"


def test_an_unknown_employee_is_not_found(served: Any) -> None:
    queries, _, _ = served
    with pytest.raises(NotFound):
        queries.employee_points("e-nobody", NOW)


def test_a_rescore_of_the_history_reproduces_what_the_consumer_wrote(served: Any) -> None:
    queries, live_store, live_index = served
    store, index = FakeLedgerStore(), FakeBoardIndex()
    report = rescore_from_history(store, index, load_rules(), TZ, DIRECTORY, EVENTS_LOG)
    assert (report.events, report.duplicates, report.employees) == (7, 1, 3)
    assert sorted(store.ledger) == sorted(live_store.ledger)
    assert {e: s.to_dict()["totals"] for e, s in store.load_states().items()} == {
        e: s.to_dict()["totals"] for e, s in live_store.load_states().items()
    }
    replayed = PointsQueries(index, store, TZ, queries.cursors)
    assert replayed.employees_board(ALL, 10, None, NOW) == queries.employees_board(
        ALL, 10, None, NOW
    )
    assert index.group_totals("team", "all") == live_index.group_totals("team", "all")
    assert index.is_built()


def test_a_rebuild_from_the_store_alone_gives_the_same_answers(served: Any) -> None:
    queries, store, index = served
    before = queries.employees_board(ALL, 10, None, NOW), queries.around("e-h", ALL, 1, NOW)
    index.clear()
    assert rebuild_index(store, index) == 3
    assert (queries.employees_board(ALL, 10, None, NOW), queries.around("e-h", ALL, 1, NOW)) == (
        before
    )
