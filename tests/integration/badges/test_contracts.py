"""The contract of every port of the badges service (`services/badges/ports.py`): each
port's in-memory fake (`tests/unit/badges/fakes.py`, which the unit tests use) and its real
adapter go through the same assertions, so a fake cannot drift from what it stands for.

Real adapters: the MongoDB stores on the running MongoDB wire server (the state store both
as the API has it and remembering where states are, as the consumer has it), the Kafka
publisher on the running broker, and the recipients lookup over HTTP against the events
service's own API (its app, served on 127.0.0.1 over a database of the test's own)."""

from __future__ import annotations

import copy
import dataclasses
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import mongoengine
import pytest
import requests
from pymongo.database import Database
from werkzeug.serving import make_server

from cercle_common.errors import InfrastructureError, NotFound
from cercle_common.messaging import make_producer
from cercle_common.mongo import connect
from cercle_common.settings import Settings
from cercle_common.topics import BADGES
from services.badges.adapters.definitions import load_catalogue
from services.badges.adapters.publisher import KafkaBadgePublisher
from services.badges.adapters.recipients import EventsServiceEmails
from services.badges.adapters.repository import AwardStore, ChallengeResults, Directory, StateStore
from services.badges.domain.facts import ActionFact, PointsFact
from services.badges.domain.model import EmployeeBadges
from services.badges.ports import (
    AwardProjection,
    BadgePublisher,
    ChallengeResultStore,
    DirectoryCopy,
    RecipientLookup,
    StateRepository,
)
from services.events.entrypoints.app import create_app as create_events_app
from tests.integration.badges.conftest import TopicWatch
from tests.unit.badges.fakes import (
    FakeAwards,
    FakeDirectory,
    FakePublisher,
    FakeRecipients,
    FakeResults,
    FakeStates,
)

CATALOGUE = load_catalogue()
TZ = "Europe/Paris"
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
EVENTS_ALIAS = "cercle_events"  # the events service's mongoengine alias


def new_id(prefix: str = "ct") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    """The badges database of this test alone, dropped afterwards."""
    alias = f"contracts-{uuid.uuid4().hex}"
    made = connect(settings, "badges", alias=alias)
    yield made
    made.client.drop_database(made.name)
    mongoengine.disconnect(alias=alias)
    made.client.close()


# -- the state store ------------------------------------------------------------------------


@dataclass
class States:
    store: StateRepository
    # Another process writing the same states (the fake: the same memory).
    other_writer: Callable[[], StateRepository]


@pytest.fixture(params=["fake", "mongo", "mongo-remembering"])
def states(request: pytest.FixtureRequest) -> States:
    if request.param == "fake":
        fake = FakeStates()
        return States(fake, lambda: fake)
    database: Database = request.getfixturevalue("database")
    size = 100 if request.param == "mongo-remembering" else 0
    return States(
        StateStore(database, cache_size=size), lambda: StateStore(database, cache_size=size)
    )


def shared(state: EmployeeBadges, n: int) -> EmployeeBadges:
    """The state after the employee's n-th share (the first one earns `first-share`, so
    the state has an award and a message in its outbox)."""
    fact = ActionFact(
        id=f"{state.employee_id}-ev-{n}",
        type="content.shared",
        employee_id=state.employee_id,
        occurred_at=AT + timedelta(minutes=n),
        sequence=n,
        data={"content_id": f"c-{n}", "network": "linkedin"},
    )
    assert state.record_event(fact, CATALOGUE, TZ)
    return state


def earned_points(state: EmployeeBadges, points: int) -> EmployeeBadges:
    fact = PointsFact(
        id=f"{state.employee_id}-ev-p:rule",
        event_id=f"{state.employee_id}-ev-p",
        employee_id=state.employee_id,
        points=points,
        occurred_at=AT,
        sequence=1,
    )
    assert state.record_points(fact, CATALOGUE, TZ)
    return state


def test_a_state_never_written_loads_empty_without_a_version(states: States) -> None:
    employee_id = new_id()
    assert states.store.load(employee_id) == (EmployeeBadges(employee_id=employee_id), None)
    assert states.store.load_all([employee_id]) == {
        employee_id: (EmployeeBadges(employee_id=employee_id), None)
    }


def test_a_written_state_loads_as_written_at_the_next_version(states: States) -> None:
    state, version = states.store.load(new_id())
    assert states.store.save(shared(state, 1), version)
    assert states.store.load(state.employee_id) == (state, 1)
    assert states.store.save(shared(state, 2), 1)
    assert states.store.load(state.employee_id) == (state, 2)
    # What another process reads is the same.
    assert states.other_writer().load(state.employee_id) == (state, 2)


def test_of_two_writers_of_the_same_version_the_second_is_refused(states: States) -> None:
    employee_id = new_id()
    first, other = states.store, states.other_writer()
    mine, version = first.load(employee_id)
    theirs, same_version = other.load(employee_id)
    assert first.save(shared(mine, 1), version)
    assert not other.save(earned_points(theirs, 10), same_version)
    # The refused writer reads what stands, and its change over it is written.
    standing, version = other.load(employee_id)
    assert (standing, version) == (mine, 1)
    assert other.save(earned_points(standing, 10), version)
    # The first writer's copy is stale now (a store remembering positions still trusts
    # it until then): its next write is refused, and it then reads what stands.
    assert not first.save(shared(copy.deepcopy(mine), 2), 1)
    assert first.load(employee_id) == (standing, 2)


def test_a_bulk_write_says_which_states_were_written(states: States) -> None:
    one, two = (states.store.load(new_id())[0] for _ in range(2))
    assert states.store.save_all([(shared(one, 1), None), (shared(two, 1), None)]) == [True, True]
    two_as_written = copy.deepcopy(two)
    written = states.store.save_all([(shared(one, 2), 1), (shared(two, 2), None)])
    assert written == [True, False]
    assert states.store.load_all([one.employee_id, two.employee_id]) == {
        one.employee_id: (one, 2),
        two.employee_id: (two_as_written, 1),
    }


def test_a_published_outbox_is_not_loaded_again(states: States) -> None:
    state, _ = states.store.load(new_id())
    assert states.store.save(shared(state, 1), None)
    assert state.outbox
    assert state.employee_id in set(states.store.employee_ids(with_outbox_only=True))
    state.take_outbox(list(state.outbox))
    states.store.mark_published(state, 1)
    loaded, version = states.store.load(state.employee_id)
    assert loaded == state and loaded.outbox == []
    assert state.employee_id not in set(states.store.employee_ids(with_outbox_only=True))
    assert state.employee_id in set(states.store.employee_ids())
    # The next change is written over what was loaded.
    assert states.store.save(shared(loaded, 2), version)


def test_several_outboxes_are_marked_published_at_once(states: States) -> None:
    written = [shared(states.store.load(new_id())[0], 1) for _ in range(2)]
    assert states.store.save_all([(state, None) for state in written]) == [True, True]
    for state in written:
        state.take_outbox(list(state.outbox))
    states.store.mark_all_published([(state, 1) for state in written])
    for state in written:
        assert states.store.load(state.employee_id)[0].outbox == []


def test_the_states_matching_a_badge_are_found(states: States) -> None:
    sharer = shared(states.store.load(new_id())[0], 1)
    earner = earned_points(states.store.load(new_id())[0], 10)
    assert states.store.save_all([(sharer, None), (earner, None)]) == [True, True]
    found = [state.employee_id for state in states.store.with_matches("first-share")]
    assert found == [sharer.employee_id]
    assert list(states.store.with_matches("charter-signed")) == []
    assert set(states.store.employee_ids()) == {sharer.employee_id, earner.employee_id}


def test_a_deleted_employee_has_no_state_and_may_begin_anew(states: States) -> None:
    state, _ = states.store.load(new_id())
    assert states.store.save(shared(state, 1), None)
    states.store.delete(state.employee_id)
    assert states.store.load(state.employee_id) == (
        EmployeeBadges(employee_id=state.employee_id),
        None,
    )
    assert state.employee_id not in set(states.store.employee_ids())
    again = earned_points(EmployeeBadges(employee_id=state.employee_id), 10)
    assert states.store.save(again, None)
    assert states.store.load(state.employee_id) == (again, 1)


def test_collecting_garbage_leaves_every_state_as_it_stands(states: States) -> None:
    state, _ = states.store.load(new_id())
    for n in range(1, 4):
        assert states.store.save(shared(state, n), n - 1 or None)
    removed = states.store.collect_garbage()
    assert isinstance(removed, int) and removed >= 0
    assert states.store.load(state.employee_id) == (state, 3)
    assert states.store.save(shared(state, 4), 3)


def test_after_a_refresh_what_another_writer_wrote_is_loaded(states: States) -> None:
    employee_id = new_id()
    states.store.refresh()
    other = states.other_writer()
    written = shared(other.load(employee_id)[0], 1)
    assert other.save(written, None)
    states.store.refresh()
    assert states.store.load(employee_id) == (written, 1)


# -- the awards projection ------------------------------------------------------------------


@pytest.fixture(params=["fake", "mongo"])
def awards(request: pytest.FixtureRequest) -> AwardProjection:
    if request.param == "fake":
        return FakeAwards()
    return AwardStore(request.getfixturevalue("database"))


def message(employee_id: str, status: str = "awarded", **fields: Any) -> dict[str, Any]:
    return {
        "id": f"award-{employee_id}",
        "employee_id": employee_id,
        "badge_id": "first-share",
        "tier": "standard",
        "status": status,
        "at": "2026-11-02T09:00:00Z",
        "evidence": ["ev-1"],
        "reason": None,
        **fields,
    }


STANDING_FIELDS = (
    "employee_id",
    "badge_id",
    "tier",
    "status",
    "evidence",
    "reason",
    "revision",
    "awarded_at",
    "revoked_at",
)


def standing(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if row is None else {name: row[name] for name in STANDING_FIELDS}


def test_an_award_reads_back_as_projected(awards: AwardProjection) -> None:
    employee_id = new_id()
    awards.project_all([(message(employee_id), 1, AT)])
    assert standing(awards.get(f"award-{employee_id}")) == {
        "employee_id": employee_id,
        "badge_id": "first-share",
        "tier": "standard",
        "status": "awarded",
        "evidence": ["ev-1"],
        "reason": None,
        "revision": 1,
        "awarded_at": AT,
        "revoked_at": None,
    }
    assert awards.get("award-nobody") is None


def test_the_highest_revision_stands_whatever_the_order(awards: AwardProjection) -> None:
    employee_id = new_id()
    revoked = message(employee_id, "revoked", reason="off-charter")
    later = AT + timedelta(days=1)
    awards.project_all([(revoked, 2, later), (message(employee_id), 1, AT)])
    awards.project_all([(message(employee_id), 1, AT)])  # a redelivered revision
    row = standing(awards.get(f"award-{employee_id}"))
    assert row is not None
    assert (row["status"], row["reason"], row["revision"]) == ("revoked", "off-charter", 2)
    assert (row["awarded_at"], row["revoked_at"]) == (None, later)


def test_erasing_an_employee_forgets_their_awards_only(awards: AwardProjection) -> None:
    leaver, stayer = new_id(), new_id()
    awards.project_all([(message(leaver), 1, AT), (message(stayer), 1, AT)])
    awards.delete_employee(leaver)
    assert awards.get(f"award-{leaver}") is None
    assert standing(awards.get(f"award-{stayer}")) is not None


# -- the directory copy ---------------------------------------------------------------------


@pytest.fixture(params=["fake", "mongo"])
def directory(request: pytest.FixtureRequest) -> DirectoryCopy:
    if request.param == "fake":
        return FakeDirectory()
    return Directory(request.getfixturevalue("database"))


def entry_of(directory: DirectoryCopy, employee_id: str) -> dict[str, Any] | None:
    entry = directory.entries([employee_id]).get(employee_id)
    fields = ("employee_id", "team", "visibility", "pseudonym", "active", "version")
    return None if entry is None else {name: entry[name] for name in fields}


def test_a_snapshot_is_kept_with_the_defaults_of_what_it_leaves_out(
    directory: DirectoryCopy,
) -> None:
    employee_id = new_id()
    directory.apply_snapshot({"employee_id": employee_id, "team": "blue", "version": 3})
    assert entry_of(directory, employee_id) == {
        "employee_id": employee_id,
        "team": "blue",
        "visibility": "visible",
        "pseudonym": None,
        "active": True,
        "version": 3,
    }
    assert directory.entries([new_id()]) == {}
    assert directory.entries([]) == {}


def test_the_newest_snapshot_stands_whatever_the_order(directory: DirectoryCopy) -> None:
    employee_id = new_id()
    newer = {"employee_id": employee_id, "team": "red", "visibility": "pseudonym", "version": 5}
    directory.apply_snapshot({**newer, "pseudonym": "Fox"})
    directory.apply_snapshot({"employee_id": employee_id, "team": "blue", "version": 4})
    directory.apply_snapshot({**newer, "team": "green"})  # the same version replayed
    entry = entry_of(directory, employee_id)
    assert entry is not None
    assert (entry["team"], entry["pseudonym"], entry["version"]) == ("red", "Fox", 5)


def test_a_forgotten_employee_has_no_entry_and_garbage_leaves_the_rest(
    directory: DirectoryCopy,
) -> None:
    leaver, stayer = new_id(), new_id()
    for version in (1, 2):
        directory.apply_snapshot(
            {"employee_id": stayer, "team": f"t-{version}", "version": version}
        )
    directory.apply_snapshot({"employee_id": leaver, "team": "blue", "version": 1})
    directory.delete(leaver)
    removed = directory.collect_garbage()
    assert isinstance(removed, int) and removed >= 0
    assert set(directory.entries([leaver, stayer])) == {stayer}
    entry = entry_of(directory, stayer)
    assert entry is not None and (entry["team"], entry["version"]) == ("t-2", 2)


# -- the challenge results ------------------------------------------------------------------


@pytest.fixture(params=["fake", "mongo"])
def results(request: pytest.FixtureRequest) -> ChallengeResultStore:
    if request.param == "fake":
        return FakeResults()
    return ChallengeResults(request.getfixturevalue("database"))


def test_the_first_result_fixed_stands_and_is_marked_applied(
    results: ChallengeResultStore,
) -> None:
    winners = [{"employee_id": "a", "team": None, "evidence": ["ev-1"], "sequence": 4}]
    assert results.get("sprint") is None
    fixed = results.fix("sprint", winners, fixed_at=AT)
    assert (fixed["winners"], fixed["applied"], fixed["fixed_at"]) == (winners, False, AT)
    again = results.fix("sprint", [{"employee_id": "b", "evidence": []}], fixed_at=AT)
    assert again["winners"] == winners
    results.mark_applied("sprint")
    stored = results.get("sprint")
    assert stored is not None
    assert (stored["winners"], stored["applied"], stored["fixed_at"]) == (winners, True, AT)
    assert results.fix("sprint", [], fixed_at=AT)["applied"] is True


# -- the publisher --------------------------------------------------------------------------


@dataclass
class Publisher:
    publisher: BadgePublisher
    # The messages published keyed by an employee, once `count` are seen.
    published: Callable[[str, int], list[dict[str, Any]]]
    # A publisher whose broker does not answer.
    unreachable: BadgePublisher


@pytest.fixture(params=["fake", "kafka"])
def publisher(request: pytest.FixtureRequest) -> Iterator[Publisher]:
    if request.param == "fake":
        fake = FakePublisher()

        def sent(employee_id: str, count: int) -> list[dict[str, Any]]:
            return [m for m in fake.sent if m["employee_id"] == employee_id]

        yield Publisher(fake, sent, FakePublisher(down=True))
        return
    settings: Settings = request.getfixturevalue("settings")
    watch = TopicWatch(settings, BADGES)
    real = KafkaBadgePublisher(lambda: make_producer(settings), BADGES)
    nowhere = dataclasses.replace(settings, kafka_bootstrap_servers=f"127.0.0.1:{closed_port()}")
    # Told the broker's version, the producer is made without asking a broker (a failed
    # probe would leave its sockets to the garbage collector) and waits at most a second
    # for one when sending.
    down = KafkaBadgePublisher(
        lambda: make_producer(nowhere, api_version=(3, 9), max_block_ms=1000), BADGES
    )

    def read(employee_id: str, count: int) -> list[dict[str, Any]]:
        def mine(records: list[Any]) -> list[Any]:
            return [r for r in records if r.key == employee_id.encode()]

        watch.wait_for(lambda _: len(mine(watch.records)) >= count)
        return [json.loads(record.value) for record in mine(watch.records)]

    yield Publisher(real, read, down)
    real.close()
    down.close()
    watch.close()


def test_messages_are_published_in_order_keyed_by_employee(publisher: Publisher) -> None:
    employee_id, other = new_id(), new_id()
    first, second = message(employee_id), message(employee_id, "revoked", reason="x")
    publisher.publisher.publish([first, message(other), second])
    assert publisher.published(employee_id, 2) == [first, second]
    assert publisher.published(other, 1) == [message(other)]


def test_publishing_nothing_needs_no_broker(publisher: Publisher) -> None:
    publisher.unreachable.publish([])


def test_an_unreachable_broker_is_an_infrastructure_error(publisher: Publisher) -> None:
    with pytest.raises(InfrastructureError):
        publisher.unreachable.publish([message(new_id())])


# -- the recipients lookup ------------------------------------------------------------------


@dataclass
class Recipients:
    lookup: RecipientLookup
    register: Callable[[str, str], None]  # (employee id, email) into the directory
    erase: Callable[[str], None]
    unreachable: RecipientLookup  # a source that does not answer


@pytest.fixture(params=["fake", "events-api"])
def recipients(request: pytest.FixtureRequest) -> Iterator[Recipients]:
    if request.param == "fake":
        fake = FakeRecipients()

        def forget(employee_id: str) -> None:
            fake.emails.pop(employee_id, None)

        yield Recipients(fake, fake.emails.__setitem__, forget, FakeRecipients(down=True))
        return
    settings: Settings = request.getfixturevalue("settings")
    events = create_events_app(settings)
    server = make_server("127.0.0.1", 0, events, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    admin = {"Authorization": f"Bearer {settings.admin_token}"}

    def register(employee_id: str, email: str) -> None:
        record = {"display_name": "Ada L.", "email": email, "team": "growth", "site": "paris"}
        answer = events.test_client().put(
            f"/v1/employees/{employee_id}", json=record, headers=admin
        )
        assert answer.status_code == 201, answer.json

    def erase(employee_id: str) -> None:
        answer = events.test_client().delete(f"/v1/employees/{employee_id}", headers=admin)
        assert answer.status_code < 300, answer.json

    def lookup(base_url: str, session: requests.Session) -> EventsServiceEmails:
        return EventsServiceEmails(dataclasses.replace(settings, events_url=base_url), session)

    with requests.Session() as session, requests.Session() as nowhere:
        try:
            yield Recipients(
                lookup(f"http://127.0.0.1:{server.server_port}", session),
                register,
                erase,
                lookup(f"http://127.0.0.1:{closed_port()}", nowhere),
            )
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
            mongoengine.connection.get_connection(EVENTS_ALIAS).drop_database(
                settings.database_name("events")
            )
            mongoengine.disconnect(alias=EVENTS_ALIAS)


def test_a_known_employees_email_is_found(recipients: Recipients) -> None:
    employee_id = new_id("emp")
    recipients.register(employee_id, "ada@cercle.test")
    assert recipients.lookup.email_of(employee_id) == "ada@cercle.test"


def test_an_unknown_employee_is_not_found_naming_the_employee(recipients: Recipients) -> None:
    with pytest.raises(NotFound) as missing:
        recipients.lookup.email_of(new_id("emp"))
    assert missing.value.field == "employee_id"


def test_an_erased_employee_is_not_found(recipients: Recipients) -> None:
    employee_id = new_id("emp")
    recipients.register(employee_id, "ada@cercle.test")
    recipients.erase(employee_id)
    with pytest.raises(NotFound):
        recipients.lookup.email_of(employee_id)


def test_a_source_that_does_not_answer_is_an_infrastructure_error(
    recipients: Recipients,
) -> None:
    with pytest.raises(InfrastructureError):
        recipients.unreachable.email_of(new_id("emp"))
