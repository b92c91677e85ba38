"""The service layer and the consumer's batch handler over in-memory fakes of the ports:
crashes and outages at each step never lose nor double an award."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cercle_common.envelope import Envelope
from cercle_common.errors import InfrastructureError
from cercle_common.messaging import Record
from cercle_common.topics import EMPLOYEES, EVENTS, POINTS
from services.badges.domain.model import public_award_id
from services.badges.entrypoints.consumer import BadgesHandler
from services.badges.handlers import BadgeService
from tests.unit.badges.fakes import (
    FakeAwards,
    FakeDirectory,
    FakePublisher,
    FakeResults,
    FakeStates,
)

TZ = "Europe/Paris"
SECRET = "test-badge-secret"


def aid(key: str) -> str:
    """The public id of the award `<employee>:<badge>:<tier>`."""
    employee_id, badge_id, tier = key.split(":")
    return public_award_id(SECRET, employee_id, badge_id, tier)


@pytest.fixture
def service(catalogue) -> BadgeService:
    return BadgeService(
        catalogue=catalogue,
        time_zone=TZ,
        states=FakeStates(),
        awards=FakeAwards(),
        publisher=FakePublisher(),
        directory=FakeDirectory(),
        results=FakeResults(),
        award_secret=SECRET,
    )


def sent_ids(service: BadgeService) -> list[tuple[str, str]]:
    return [(m["id"], m["status"]) for m in service.publisher.sent]


def test_an_outage_after_the_write_publishes_once_on_redelivery(service, facts):
    share = facts.event("2026-11-02T09:00:00Z", content_id="c-1")
    service.publisher.down = True
    with pytest.raises(InfrastructureError):
        service.apply_facts("e-1", [share])
    assert service.publisher.sent == []
    assert service.states.load("e-1")[0].outbox  # kept with the state, in the same write

    service.publisher.down = False
    service.apply_facts("e-1", [share])  # the loop retries the same batch
    service.apply_facts("e-1", [share])  # and a later redelivery
    assert sent_ids(service) == [(aid("e-1:first-share:standard"), "awarded")]
    assert service.awards.rows[aid("e-1:first-share:standard")]["status"] == "awarded"
    assert service.states.load("e-1")[0].outbox == []


def test_a_concurrent_write_is_retried_and_the_fact_applied_once(service, facts):
    service.apply_facts("e-1", [facts.event("2026-11-02T09:00:00Z", content_id="c-1")])
    service.states.conflicts_to_raise = 2
    service.apply_facts("e-1", [facts.event("2026-11-02T10:00:00Z", content_id="c-2")])
    state, _ = service.states.load("e-1")
    assert len(state.matches["ambassador"]) == 2
    assert sent_ids(service).count((aid("e-1:ambassador:bronze"), "awarded")) == 1


def test_challenge_settlement_interrupted_resumes_without_doubling(service, facts, catalogue):
    for name in ("a", "b"):
        service.apply_facts(
            name,
            [
                facts.event("2026-12-02T09:00:00Z", employee_id=name),
                facts.event("2026-12-03T09:00:00Z", employee_id=name),
            ],
        )
    after_end = datetime(2026, 12, 9, tzinfo=UTC)
    service.publisher.down = True
    with pytest.raises(InfrastructureError):
        service.settle_due_challenges(after_end)
    service.publisher.down = False
    assert service.settle_due_challenges(after_end) == ["sprint", "team-week"]
    assert service.settle_due_challenges(after_end) == []
    assert sorted(sent_ids(service)).count((aid("a:sprint:standard"), "awarded")) == 1
    assert sorted(sent_ids(service)).count((aid("b:sprint:standard"), "awarded")) == 1


def test_admin_revocation_is_published_and_projected(service, facts):
    service.apply_facts("e-1", [facts.event("2026-11-02T09:00:00Z", content_id="c-1")])
    award = service.revoke(aid("e-1:first-share:standard"), "off-charter", datetime.now(UTC))
    assert award.status == "revoked"
    assert sent_ids(service)[-1] == (aid("e-1:first-share:standard"), "revoked")
    assert service.awards.rows[aid("e-1:first-share:standard")]["reason"] == "off-charter"
    # Twice: nothing more is published.
    service.revoke(aid("e-1:first-share:standard"), "off-charter", datetime.now(UTC))
    assert len(sent_ids(service)) == 2


# -- the consumer's batch handler -----------------------------------------------------------


def record(topic: str, key: str, value: bytes | None, offset: int = 0) -> Record:
    return Record(topic=topic, partition=0, offset=offset, key=key.encode(), value=value)


def shared(employee_id: str, sequence: int) -> bytes:
    return Envelope(
        id=f"{employee_id}-{sequence}",
        type="content.shared",
        occurred_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        employee_id=employee_id,
        data={"content_id": f"c-{sequence}"},
        sequence=sequence,
    ).to_json()


def test_the_batch_handler_refuses_bad_records_and_applies_the_rest(service):
    handler = BadgesHandler(service)
    batch = [
        record(EVENTS, "e-1", shared("e-1", 1), 0),
        record(EVENTS, "e-1", b"[1, 2]", 1),
        record(POINTS, "e-2", json.dumps({"id": "x"}).encode(), 2),
        record(EVENTS, "e-2", shared("e-2", 2), 3),
        record(EVENTS, "e-1", shared("e-1", 1), 4),  # a duplicate
    ]
    rejected = handler(batch)
    assert [(r.record.offset, type(r.error).__name__) for r in rejected] == [
        (1, "MalformedRequest"),
        (2, "ValidationError"),
    ]
    assert sent_ids(service) == [
        (aid("e-1:first-share:standard"), "awarded"),
        (aid("e-2:first-share:standard"), "awarded"),
    ]


def test_a_tombstone_after_facts_in_the_same_batch_erases_the_employee(service):
    handler = BadgesHandler(service)
    snapshot = json.dumps({"employee_id": "e-1", "team": "blue", "version": 1}).encode()
    handler([record(EMPLOYEES, "e-1", snapshot), record(EVENTS, "e-1", shared("e-1", 1))])
    assert service.directory.rows["e-1"]["team"] == "blue"
    assert handler([record(EVENTS, "e-1", shared("e-1", 2)), record(EMPLOYEES, "e-1", None)]) == []
    assert service.states.load("e-1")[1] is None
    assert service.awards.rows == {}
    assert service.directory.rows == {}


def test_an_outage_is_raised_for_the_loop_to_retry(service):
    service.publisher.down = True
    with pytest.raises(InfrastructureError):
        BadgesHandler(service)([record(EVENTS, "e-1", shared("e-1", 1))])


# -- one bad fact never takes its valid siblings with it ---------------------------------


def published_at(event_id: str, sequence: int, occurred_at: str, content_id: str) -> bytes:
    body = Envelope(
        id=event_id,
        type="content.shared",
        occurred_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        employee_id="e-1",
        data={"content_id": content_id},
        sequence=sequence,
    ).to_dict()
    body["occurred_at"] = occurred_at
    return json.dumps(body).encode()


def test_a_bad_instant_in_a_batch_refuses_only_its_own_record(service):
    batch = [
        record(EVENTS, "e-1", published_at("ev-1", 1, "2026-11-02T09:00:00Z", "c-1"), 0),
        record(EVENTS, "e-1", published_at("ev-2", 2, "9999-12-31T23:30:00Z", "c-2"), 1),
        record(EVENTS, "e-1", published_at("ev-3", 3, "0001-01-01T00:00:00+14:00", "c-3"), 2),
        record(EVENTS, "e-1", published_at("ev-4", 4, "2026-11-03T09:00:00Z", "c-4"), 3),
    ]
    rejected = BadgesHandler(service)(batch)
    assert sorted((r.record.offset, getattr(r.error, "field", None)) for r in rejected) == [
        (1, "occurred_at"),
        (2, "occurred_at"),
    ]
    state, _ = service.states.load("e-1")
    assert [m.event_id for m in state.matches["ambassador"]] == ["ev-1", "ev-4"]
    assert (aid("e-1:first-share:standard"), "awarded") in sent_ids(service)


def test_a_bad_ledger_instant_refuses_only_its_own_entry(service):
    def entry(entry_id: str, sequence: int, occurred_at: str) -> bytes:
        return json.dumps(
            {
                "id": f"{entry_id}:share",
                "event_id": entry_id,
                "employee_id": "e-1",
                "points": 60,
                "occurred_at": occurred_at,
                "sequence": sequence,
            }
        ).encode()

    rejected = BadgesHandler(service)(
        [
            record(POINTS, "e-1", entry("ev-1", 1, "2026-11-02T09:00:00Z"), 0),
            record(POINTS, "e-1", entry("ev-2", 2, "9999-12-31T23:30:00Z"), 1),
            record(POINTS, "e-1", entry("ev-3", 3, "2026-11-02T10:00:00Z"), 2),
        ]
    )
    assert [r.record.offset for r in rejected] == [1]
    assert service.states.load("e-1")[0].totals["all"] == 120


# -- a batch is written at once ---------------------------------------------------------


def test_a_batch_writes_every_employees_state_in_one_bulk_write(service):
    handler = BadgesHandler(service)
    batch = [record(EVENTS, f"e-{n}", shared(f"e-{n}", n), n) for n in range(1, 4)]
    assert handler(batch) == []
    assert service.states.bulk_writes == 1
    assert [service.states.load(f"e-{n}")[1] for n in range(1, 4)] == [1, 1, 1]
    assert sorted(sent_ids(service)) == sorted(
        (aid(f"e-{n}:first-share:standard"), "awarded") for n in range(1, 4)
    )


def test_a_conflict_in_the_bulk_write_is_done_again_for_its_employee_alone(service):
    handler = BadgesHandler(service)
    handler([record(EVENTS, "e-1", shared("e-1", 1), 0)])
    service.states.conflicts_to_raise = 1  # another writer moved e-1 meanwhile
    assert (
        handler([record(EVENTS, "e-1", shared("e-1", 2)), record(EVENTS, "e-2", shared("e-2", 3))])
        == []
    )
    state, _ = service.states.load("e-1")
    assert [match.event_id for match in state.matches["ambassador"]] == ["e-1-1", "e-1-2"]
    assert service.states.load("e-2")[1] == 1
    assert sent_ids(service).count((aid("e-2:first-share:standard"), "awarded")) == 1


def test_an_outbox_a_crash_left_is_published_by_the_next_batch(service, facts):
    share = facts.event("2026-11-02T09:00:00Z", content_id="c-1", event_id="e-1-1")
    service.publisher.down = True
    with pytest.raises(InfrastructureError):
        service.apply_batch({"e-1": [share]})
    service.publisher.down = False
    # The batch comes again: the fact is already in the state, its outbox is not sent.
    assert BadgesHandler(service)([record(EVENTS, "e-1", shared("e-1", 1))]) == []
    assert sent_ids(service) == [(aid("e-1:first-share:standard"), "awarded")]
    assert service.states.load("e-1")[0].outbox == []


def test_the_handler_reads_where_states_are_first_and_after_each_assignment(service):
    handler = BadgesHandler(service)
    handler([record(EVENTS, "e-1", shared("e-1", 1))])
    handler([record(EVENTS, "e-1", shared("e-1", 2))])
    assert service.states.refreshes == 1
    handler.partitions_assigned(set())
    handler([record(EVENTS, "e-1", shared("e-1", 3))])
    assert service.states.refreshes == 2
