"""The contract of each port of the points service (`services/points/ports.py`), run alike
against its in-memory fake (`tests/unit/points/fakes.py`) and its real adapter: the store
on the stack's MongoDB wire server (FerretDB), the leaderboard index on the stack's Redis
and on a one-node Redis Cluster of its own (which refuses any script or command whose
keys span hash slots, so the index's key scheme is proven Cluster-safe), the publisher
on the stack's Kafka. A fake that passes here behaves, for the service layer, as the real
adapter does; the unit tests can trust it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mongoengine
import pytest
import redis
from kafka import KafkaConsumer

from cercle_common.messaging import client_options, end_offsets, make_producer
from cercle_common.settings import Settings
from cercle_common.topics import POINTS
from services.points.adapters.board_index import LeaderboardIndex, index_name
from services.points.adapters.publisher import PointsPublisher
from services.points.bootstrap import connect_store
from services.points.domain.model import DirectoryEntry, EmployeeState, LedgerEntry, Placement
from services.points.domain.ranking import board_score
from services.points.ports import BoardIndex, BoardRow, EntryPublisher, IndexWriter, LedgerStore
from tests.unit.points.fakes import FakeBoardIndex, FakeEntryPublisher, FakeLedgerStore

WHEN = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# Fixtures: one parameter per implementation --------------------------------------------


@pytest.fixture(params=["fake", "ferretdb"])
def store(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LedgerStore]:
    """A ledger store with nothing in it."""
    if request.param == "fake":
        yield FakeLedgerStore()
        return
    alias = _id("points-contract")
    real = connect_store(settings, alias)
    try:
        yield real
    finally:
        real.database.client.drop_database(real.database.name)
        mongoengine.disconnect(alias=alias)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cluster_ok(info: Any) -> bool:
    # redis-py parses CLUSTER INFO into a dict in some versions, leaves the text in others.
    if isinstance(info, dict):
        return info.get("cluster_state") == "ok"
    return "cluster_state:ok" in str(info)


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A one-node Redis Cluster holding every slot: it applies a Cluster's rules (keys
    of one command or script in one slot), which a plain node does not."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (the local stack needs it)")
    directory: Path = tmp_path_factory.mktemp("redis-cluster")
    port = _free_port()
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
    command += ["--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Typed loosely: redis-py leaves execute_command untyped.
    client: Any = redis.Redis(port=port, decode_responses=True, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        while not _cluster_ok(client.execute_command("CLUSTER", "INFO")):
            if time.monotonic() > deadline:
                pytest.fail("the one-node cluster did not come up")
            time.sleep(0.1)
        # The node enforces what the index must respect: a script declaring keys of two
        # slots, or touching keys outside one slot, is refused.
        cross = "#!lua\nredis.call('SET', KEYS[1], 1)\nredis.call('SET', KEYS[2], 1)"
        with pytest.raises(redis.exceptions.ResponseError, match="hash to the same slot"):
            client.eval(cross, 2, "a", "b")
        undeclared = "#!lua\nredis.call('SET', 'a', 1)\nredis.call('SET', 'b', 1)"
        with pytest.raises(redis.exceptions.ResponseError, match="same slot"):
            client.eval(undeclared, 0)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(params=["fake", "redis", "redis-cluster"])
def index(request: pytest.FixtureRequest, settings: Settings) -> Iterator[BoardIndex]:
    """A leaderboard index with nothing in it."""
    if request.param == "fake":
        yield FakeBoardIndex()
        return
    cluster = request.param == "redis-cluster"
    url = request.getfixturevalue("cluster_url") if cluster else settings.redis_url
    real = LeaderboardIndex.from_url(url, index_name(settings))
    real.clear()
    try:
        yield real
    finally:
        real.clear()
        real.client.close()


@dataclass
class Topic:
    """A publisher and a way to read back what it published for some keys."""

    publisher: EntryPublisher
    read: Callable[[set[str], int], list[tuple[str, dict[str, Any]]]]


@pytest.fixture(params=["fake", "kafka"])
def topic(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Topic]:
    """An entry publisher, and the reader of `cercle.points.v1` behind it."""
    if request.param == "fake":
        fake = FakeEntryPublisher()

        def read_fake(keys: set[str], count: int) -> list[tuple[str, dict[str, Any]]]:
            return [(key, value) for key, value in fake.messages() if key in keys]

        yield Topic(fake, read_fake)
        return
    starts = end_offsets(settings, POINTS)
    real = PointsPublisher(make_producer(settings))

    def read_kafka(keys: set[str], count: int) -> list[tuple[str, dict[str, Any]]]:
        consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False)
        found: list[tuple[str, dict[str, Any]]] = []
        try:
            partitions = list(starts)
            consumer.assign(partitions)
            for partition in partitions:
                consumer.seek(partition, starts[partition])
            ends = consumer.end_offsets(partitions)
            while any(consumer.position(p) < ends[p] for p in partitions):
                for messages in consumer.poll(timeout_ms=1000).values():
                    for message in messages:
                        key = message.key.decode() if message.key else ""
                        if key in keys:
                            found.append((key, json.loads(message.value)))
        finally:
            consumer.close(autocommit=False)
        assert len(found) >= count or count == 0, found
        return found

    try:
        yield Topic(real, read_kafka)
    finally:
        real.close()


# Builders ------------------------------------------------------------------------------


def entry(
    employee: str, event: str, sequence: int, points: int = 10, reverses: str | None = None
) -> LedgerEntry:
    return LedgerEntry(
        id=f"{event}:share.professional",
        event_id=event,
        event_type="content.shared",
        employee_id=employee,
        rule_id="share.professional",
        rules_version=1,
        points=points,
        explanation=f"shared on LinkedIn: +{points}",
        occurred_at=WHEN,
        sequence=sequence,
        reverses=reverses,
    )


def state(employee: str, applied: int, last_sequence: int, points: int) -> EmployeeState:
    snapshot = EmployeeState(employee, last_sequence=last_sequence, applied=applied)
    snapshot.totals = {"all": [points, last_sequence], "2026-11": [points, last_sequence]}
    snapshot.recent = {f"ev-{last_sequence}": last_sequence}
    return snapshot


def directory(employee: str, position: int, **fields: Any) -> DirectoryEntry:
    return DirectoryEntry(employee_id=employee, position=position, **fields)


# The ledger store ----------------------------------------------------------------------


def test_store_a_ledger_entry_written_twice_is_stored_once(store: LedgerStore) -> None:
    employee = _id("e")
    first = entry(employee, "ev-1", 1)
    store.insert_ledger([first])
    store.insert_ledger([first, entry(employee, "ev-2", 2, points=5)])
    store.insert_ledger([])
    assert sorted(row["id"] for row in store.ledger_of([employee])) == [
        "ev-1:share.professional",
        "ev-2:share.professional",
    ]
    assert sorted(points for e, points, _ in store.ledger_points() if e == employee) == [5, 10]


def test_store_a_ledger_page_is_newest_first_then_by_id_with_every_field(
    store: LedgerStore,
) -> None:
    employee, other = _id("e"), _id("e")
    store.insert_ledger(
        [
            entry(employee, "ev-b", 7),
            entry(employee, "ev-a", 7),
            entry(employee, "ev-c", 3, points=-10, reverses="ev-x:share.professional"),
            entry(employee, "ev-d", 9),
            entry(other, "ev-e", 8),
        ]
    )
    page = store.ledger_page(employee, 0, 3)
    assert [row["event_id"] for row in page] == ["ev-d", "ev-a", "ev-b"]
    assert [row["event_id"] for row in store.ledger_page(employee, 3, 3)] == ["ev-c"]
    last = store.ledger_page(employee, 3, 3)[0]
    assert last == entry(employee, "ev-c", 3, -10, "ev-x:share.professional").to_dict()
    assert store.ledger_page(_id("e"), 0, 10) == []
    assert (employee, 10, WHEN) in list(store.ledger_points())


def test_store_the_latest_snapshot_is_the_state_and_a_repeated_one_changes_nothing(
    store: LedgerStore,
) -> None:
    employee, other = _id("e"), _id("e")
    # The most events applied wins, even at a lower sequence (a new id at an old one).
    snapshots = [state(employee, 2, 9, 20), state(employee, 3, 7, 30), state(employee, 1, 5, 10)]
    store.insert_states(snapshots)
    store.insert_states([state(employee, 3, 7, 30), state(other, 1, 4, 10)])
    loaded = store.load_states({employee})
    assert list(loaded) == [employee]
    assert loaded[employee].to_dict() == state(employee, 3, 7, 30).to_dict()
    assert store.load_states(compact=True)[employee].applied == 3
    assert store.load_states({employee, other})[other].total("all") == 10
    assert store.load_states({_id("e")}) == {}


def test_store_the_latest_directory_snapshot_wins(store: LedgerStore) -> None:
    employee = _id("e")
    store.insert_directory([directory(employee, 5, team="a"), directory(employee, 9, team="b")])
    store.insert_directory([directory(employee, 7, team="c"), directory(employee, 9, team="b")])
    assert store.load_directory()[employee] == directory(employee, 9, team="b")


def test_store_erasure_keeps_only_the_marker_and_touches_no_one_else(store: LedgerStore) -> None:
    employee, other = _id("e"), _id("e")
    store.insert_ledger([entry(employee, "ev-1", 1), entry(other, "ev-2", 2)])
    store.insert_states([state(employee, 1, 1, 10), state(other, 1, 2, 10)])
    store.insert_directory([directory(employee, 3, team="a"), directory(other, 4, team="a")])
    marker = directory(employee, 6, erased=True)
    store.insert_directory([marker])
    store.erase(employee, keep_position=6)
    assert store.ledger_of([employee]) == [] and employee not in store.load_states()
    assert store.load_directory()[employee] == marker
    # The older snapshot is gone: only the marker would come back.
    store.insert_directory([directory(employee, 6, erased=True)])
    assert store.load_directory()[employee] == marker
    assert [row["id"] for row in store.ledger_of([other])] == ["ev-2:share.professional"]
    assert other in store.load_states() and other in store.load_directory()


def test_store_forgetting_and_dropping_scores_leave_the_directory(store: LedgerStore) -> None:
    first, second, third = _id("e"), _id("e"), _id("e")
    store.insert_ledger([entry(e, f"ev-{n}", n) for n, e in enumerate([first, second, third])])
    store.insert_states([state(e, 1, n, 10) for n, e in enumerate([first, second, third])])
    store.insert_directory([directory(first, 1)])
    store.forget([first, first])
    store.forget([])
    assert store.ledger_of([first]) == [] and set(store.load_states()) == {second, third}
    store.drop_scores()
    store.ensure_indexes()
    assert store.ledger_of([second, third]) == [] and store.load_states() == {}
    assert list(store.load_directory()) == [first]
    store.ping()


# The leaderboard index -----------------------------------------------------------------


def _project(
    index: BoardIndex, employee: str, placement: Placement, rows: list[tuple[str, int, int]]
) -> None:
    def build(writer: IndexWriter) -> None:
        writer.project(employee, placement, rows)

    index.write(build)


def _everything(index: BoardIndex, employees: list[str], teams: list[str]) -> dict[str, Any]:
    """What every reader of the index may see of these employees and teams."""
    keys = ["all", "2026-11"]
    boards = [index.board_key(key) for key in keys]
    boards += [index.board_key(key, "team", team) for key in keys for team in teams]
    boards += [index.board_key(key, "site", team) for key in keys for team in teams]
    return {
        "boards": [index.page(board, 0, 100) for board in boards],
        "totals": [index.all_totals(employee) for employee in employees],
        "keys": [sorted(keys) for keys in index.period_keys_of(employees)],
        "directory": index.directory(employees),
        "groups": [index.group_totals(group, key) for group in ("team", "site") for key in keys],
    }


def test_index_boards_rank_more_points_first_then_who_reached_them_first(
    index: BoardIndex,
) -> None:
    placement = Placement(team="t", site="s", listed=True)
    _project(index, "e-early", placement, [("all", 30, 5)])
    _project(index, "e-late", placement, [("all", 30, 9)])
    _project(index, "e-top", placement, [("all", 40, 12)])
    _project(index, "e-low", Placement(team="u", site="", listed=True), [("all", -5, 3)])
    board = index.board_key("all")
    rows, size = index.page(board, 0, 10)
    assert (rows, size) == (
        [
            BoardRow("e-top", 40),
            BoardRow("e-early", 30),
            BoardRow("e-late", 30),
            BoardRow("e-low", -5),
        ],
        4,
    )
    assert index.page(board, 1, 2) == ([BoardRow("e-early", 30), BoardRow("e-late", 30)], 4)
    assert index.page(board, 10, 5) == ([], 4)
    assert index.page(index.board_key("all", "team", "t"), 0, 10)[1] == 3
    assert index.page(index.board_key("all", "site", "s"), 2, 10) == ([BoardRow("e-late", 30)], 3)
    assert index.page(index.board_key("all", "team", "nobody"), 0, 10) == ([], 0)
    assert index.position(board, "e-late", board_score(30, 9)) == 2
    # Off the board: where the score would stand.
    assert index.position(board, "e-absent", board_score(30, 7)) == 2
    assert index.position(board, "e-absent", board_score(-10, 1)) == 4


def test_index_a_page_of_no_rows_from_the_top_is_the_whole_board(index: BoardIndex) -> None:
    # Redis reads 0..-1 as "to the end"; the fake must answer what the service gets.
    for n in range(3):
        _project(index, f"e-{n}", Placement("", "", True), [("all", n, n)])
    assert index.page(index.board_key("all"), 0, 0)[0] == [
        BoardRow("e-2", 2),
        BoardRow("e-1", 1),
        BoardRow("e-0", 0),
    ]
    assert index.page(index.board_key("all"), 1, 0) == ([], 3)


def test_index_totals_and_group_sums_follow_absolute_writes_replayed_at_will(
    index: BoardIndex,
) -> None:
    listed = Placement(team="t", site="s", listed=True)
    for _ in range(2):  # the same writes again, as a retried batch sends them
        _project(index, "e-1", listed, [("all", 10, 1), ("2026-11", 10, 1)])
        _project(index, "e-2", listed, [("all", 25, 4)])
    assert index.group_totals("team", "all").totals == {"t": 35}
    assert index.group_totals("site", "2026-11").totals == {"s": 10}
    _project(index, "e-1", listed, [("all", 4, 6)])  # a reversal lowered the total
    assert index.group_totals("team", "all").totals == {"t": 29}
    assert index.totals("e-1", ["all", "2026-11", "2026-12"]) == [(4, 6), (10, 1), (0, 0)]
    assert index.all_totals("e-1") == {"all": (4, 6), "2026-11": (10, 1)}
    assert [sorted(keys) for keys in index.period_keys_of(["e-1", "e-9"])] == [
        ["2026-11", "all"],
        [],
    ]
    assert index.period_keys_of([]) == [] and index.directory([]) == []


def test_index_a_hidden_employee_keeps_own_totals_and_counts_in_no_board_or_sum(
    index: BoardIndex,
) -> None:
    listed = Placement(team="t", site="s", listed=True)
    hidden = Placement(team="t", site="s", listed=False)
    _project(index, "e-1", listed, [("all", 10, 1)])
    _project(index, "e-2", listed, [("all", 20, 2)])
    _project(index, "e-2", hidden, [("all", 20, 2)])  # turned hidden
    assert index.page(index.board_key("all"), 0, 10) == ([BoardRow("e-1", 10)], 1)
    assert index.page(index.board_key("all", "team", "t"), 0, 10)[1] == 1
    assert index.group_totals("team", "all").totals == {"t": 10}
    assert index.all_totals("e-2") == {"all": (20, 2)}
    assert index.position(index.board_key("all"), "e-2", board_score(20, 2)) == 0
    _project(index, "e-1", hidden, [("all", 10, 1)])  # the last listed member gone too
    assert index.group_totals("team", "all").totals == {}
    assert index.group_totals("site", "all").totals == {}


def test_index_a_move_takes_the_scores_out_of_the_old_team_and_site(index: BoardIndex) -> None:
    old = Placement(team="a", site="s", listed=True)
    new = Placement(team="b", site="", listed=True)
    _project(index, "e-1", old, [("all", 10, 1), ("2026-11", 10, 1)])
    _project(index, "e-2", old, [("all", 5, 2)])

    def move(writer: IndexWriter) -> None:
        writer.unplace("e-1", old, ["all", "2026-11"])
        writer.project("e-1", new, [("all", 10, 1), ("2026-11", 10, 1)])

    index.write(move)
    index.write(move)  # a retry after a broken pipeline
    assert index.group_totals("team", "all").totals == {"a": 5, "b": 10}
    assert index.group_totals("team", "2026-11").totals == {"b": 10}
    assert index.group_totals("site", "all").totals == {"s": 5}
    assert index.group_totals("site", "2026-11").totals == {}
    assert index.page(index.board_key("all", "team", "a"), 0, 10) == ([BoardRow("e-2", 5)], 1)
    assert index.page(index.board_key("2026-11", "site", "s"), 0, 10) == ([], 0)
    assert index.page(index.board_key("all"), 0, 10)[1] == 2

    def unplace_nothing(writer: IndexWriter) -> None:
        writer.unplace("e-1", old, [])
        writer.project("e-1", new, [])

    index.write(unplace_nothing)
    assert index.all_totals("e-1") == {"all": (10, 1), "2026-11": (10, 1)}


def test_index_directory_copy_and_active_counts_of_listed_members(index: BoardIndex) -> None:
    def write(*entries: DirectoryEntry) -> None:
        def build(writer: IndexWriter) -> None:
            for one in entries:
                writer.directory(one)

        index.write(build)

    write(
        directory("e-1", 1, team="t", site="s", pseudonym="Owl", visibility="pseudonym"),
        directory("e-2", 2, team="t", site="s"),
        directory("e-3", 3, team="t", site="s", visibility="hidden"),
        directory("e-4", 4, team="t", site="s", active=False),
    )
    write(directory("e-2", 2, team="t", site="s"))  # again: counted once
    assert index.directory(["e-1", "e-9"]) == [
        {"team": "t", "site": "s", "visibility": "pseudonym", "pseudonym": "Owl", "active": "1"},
        {},
    ]
    assert index.group_totals("team", "all").active == {"t": 2}
    write(directory("e-2", 5, team="u", site=""), directory("e-1", 6, erased=True))
    assert index.group_totals("team", "all").active == {"u": 1}
    assert index.group_totals("site", "all").active == {}
    assert index.directory(["e-1", "e-4"]) == [
        {},
        {"team": "t", "site": "s", "visibility": "visible", "pseudonym": "", "active": "0"},
    ]

    def forget(writer: IndexWriter) -> None:
        writer.forget_totals("e-2")

    _project(index, "e-2", Placement("u", "", True), [("all", 3, 1)])
    index.write(forget)
    assert index.all_totals("e-2") == {}


def test_index_a_rebuild_answers_as_the_writes_it_replaces(index: BoardIndex) -> None:
    entries = [
        directory("e-1", 1, team="t", site="s"),
        directory("e-2", 2, team="t", site="r", visibility="hidden"),
        directory("e-3", 3, team="u", site="s", visibility="pseudonym", pseudonym="Fox"),
        directory("e-4", 4, erased=True),
    ]
    states = [state("e-1", 2, 5, 30), state("e-2", 1, 6, 20), state("e-3", 4, 8, 30)]
    states.append(state("e-5", 1, 9, 7))  # not announced by the directory yet
    index.project_all(states, entries)
    index.mark_built()
    assert index.is_built()
    built = _everything(index, ["e-1", "e-2", "e-3", "e-4", "e-5"], ["t", "u", "r"])
    assert built["boards"][0] == ([BoardRow("e-1", 30), BoardRow("e-3", 30)], 2)
    assert built["groups"][0].totals == {"t": 30, "u": 30}
    assert built["totals"][4] == {"all": (7, 9), "2026-11": (7, 9)}

    _project(index, "e-1", Placement("t", "s", True), [("all", 99, 99)])  # drift
    index.clear()
    assert not index.is_built()
    assert _everything(index, ["e-1"], ["t"])["boards"][0] == ([], 0)
    index.rebuild(states, entries)
    assert index.is_built()
    assert _everything(index, ["e-1", "e-2", "e-3", "e-4", "e-5"], ["t", "u", "r"]) == built
    index.ping()


# The entry publisher -------------------------------------------------------------------


def test_publisher_entries_are_readable_by_employee_in_their_order(topic: Topic) -> None:
    first, second = _id("e"), _id("e")
    entries = [entry(first, _id("ev"), 1), entry(second, _id("ev"), 2), entry(first, _id("ev"), 3)]
    topic.publisher.publish([])
    topic.publisher.publish(entries)
    read = topic.read({first, second}, len(entries))
    assert [value for key, value in read if key == first] == [
        entries[0].to_dict(),
        entries[2].to_dict(),
    ]
    assert read.count((second, entries[1].to_dict())) == 1
    assert sorted(key for key, _ in read) == sorted([first, first, second])


# Beyond the contract: promises of the Redis adapter alone ------------------------------


def test_the_index_keys_are_tagged_and_a_rebuild_drops_the_untagged_former_ones(
    settings: Settings,
) -> None:
    index = LeaderboardIndex.from_settings(settings)
    former = [f"{index.name}:lb:all", f"{index.name}:pts:e-1", f"{index.name}:built"]
    try:
        for key in former:
            index.client.set(key, "x")
        _project(index, "e-1", Placement("t", "s", True), [("all", 1, 1)])
        keys = set(index.client.scan_iter(match=f"{index.prefix}*"))
        assert keys and all(key.startswith(f"{{{index.name}}}:") for key in keys)
        index.rebuild([], [])
        assert [index.client.exists(key) for key in former] == [0, 0, 0]
        assert index.is_built() and index.page(index.board_key("all"), 0, 10) == ([], 0)
    finally:
        index.clear()
        index.client.close()
