"""What the consumer's batches ask of the database, on the real MongoDB wire server: once
it knows where every state is, a batch sends nothing but inserts and reads by `_id` that
find their document, the only calls whose cost does not grow with a collection on
FerretDB (docs/database-costs.md), whatever the batch holds (new employees, redelivered
facts, a revocation, a directory change)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from cercle_common.envelope import Envelope
from cercle_common.messaging import Record, make_producer
from cercle_common.settings import Settings
from cercle_common.topics import BADGES, EMPLOYEES, EVENTS, POINTS
from services.badges.adapters.definitions import load_catalogue
from services.badges.adapters.publisher import KafkaBadgePublisher
from services.badges.adapters.repository import AwardStore, ChallengeResults, Directory, StateStore
from services.badges.entrypoints.consumer import BadgesHandler
from services.badges.handlers import BadgeService

# Driver housekeeping, not the handler's work.
HOUSEKEEPING = {"endSessions", "killCursors"}


class Commands(monitoring.CommandListener):
    """The commands sent while `recording`, with the number of documents each find got."""

    def __init__(self) -> None:
        self.recording = False
        self.sent: dict[int, tuple[str, dict[str, Any]]] = {}
        self.found: dict[int, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.recording and event.command_name not in HOUSEKEEPING:
            self.sent[event.request_id] = (event.command_name, dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id in self.sent and event.command_name == "find":
            self.found[event.request_id] = len(event.reply["cursor"]["firstBatch"])

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def costly(self) -> list[str]:
        """Every recorded command but inserts and `_id` reads that found their document."""
        problems = []
        for request_id, (name, command) in self.sent.items():
            if name == "insert":
                continue
            found = self.found.get(request_id)
            by_id = set(command.get("filter", {})) == {"_id"}
            if name == "find" and by_id and isinstance(command["filter"]["_id"], str) and found:
                continue
            problems.append(f"{name} {command.get(name)} {command.get('filter', '')}")
        return problems


@pytest.fixture
def monitored(settings: Settings) -> Iterator[tuple[Commands, BadgesHandler]]:
    commands = Commands()
    client: MongoClient = MongoClient(settings.mongo_url, event_listeners=[commands], tz_aware=True)
    database = client[settings.database_name("badges")]
    publisher = KafkaBadgePublisher(lambda: make_producer(settings), BADGES)
    service = BadgeService(
        catalogue=load_catalogue(),
        time_zone=settings.org_timezone,
        # Two bodies in memory for a dozen employees: most loads read their body.
        states=StateStore(database, cache_size=2),
        awards=AwardStore(database),
        publisher=publisher,
        directory=Directory(database),
        results=ChallengeResults(database),
        award_secret=settings.badge_salt,
    )
    yield commands, BadgesHandler(service)
    publisher.close()
    client.drop_database(database.name)
    client.close()


class Batch:
    def __init__(self, run: str) -> None:
        self.run = run
        self.records: list[Record] = []
        self.sequence = 0

    def snapshot(self, employee: str, version: int, team: str) -> None:
        body = {"employee_id": employee, "team": team, "visibility": "visible", "version": version}
        self._add(EMPLOYEES, employee, json.dumps(body).encode())

    def event(self, employee: str, type_: str, day: int, **data: Any) -> str:
        self.sequence += 1
        event = Envelope(
            id=f"{self.run}-ev-{self.sequence}",
            type=type_,
            occurred_at=datetime(2026, 11, day, 9, tzinfo=UTC),
            employee_id=employee,
            data=data,
            sequence=self.sequence,
        )
        self._add(EVENTS, employee, event.to_json())
        return event.id

    def ledger(self, employee: str, event_id: str, points: int) -> None:
        entry = {
            "id": f"{event_id}:rule",
            "event_id": event_id,
            "employee_id": employee,
            "points": points,
            "occurred_at": "2026-11-02T09:00:00Z",
            "sequence": self.sequence,
            "reverses": None,
        }
        self._add(POINTS, employee, json.dumps(entry).encode())

    def take(self) -> list[Record]:
        taken, self.records = self.records, []
        return taken

    def _add(self, topic: str, key: str, value: bytes) -> None:
        offset = len(self.records)
        self.records.append(Record(topic, 0, offset, key.encode(), value))


def test_a_batch_sends_only_inserts_and_reads_that_find(monitored):
    commands, handler = monitored
    run = uuid.uuid4().hex[:8]
    known = [f"hp-{run}-{n}" for n in range(12)]
    batch = Batch(run)
    first_shares = {}
    for employee in known:
        batch.snapshot(employee, 1, "red")
        first_shares[employee] = batch.event(employee, "content.shared", 2, content_id="c-0")
    assert handler(batch.take()) == []  # the first batch also reads where states are

    commands.recording = True
    for n, employee in enumerate(known):
        shared = batch.event(employee, "content.shared", 3, content_id=f"c-{n}", network="x")
        batch.ledger(employee, shared, 40)
        batch.event(employee, "share.engaged", 3, share_event_id=shared, clicks=2)
    redelivered = batch.records[:3]
    batch.records += redelivered  # the same facts again, in the same batch
    batch.event(known[0], "share.deleted", 4, share_event_id=first_shares[known[0]])
    batch.snapshot(known[1], 2, "blue")
    for n in range(4):  # employees seen for the first time
        batch.event(f"hp-{run}-new-{n}", "course.completed", 4, course_id="c-1")
    rejected = handler(batch.take())
    commands.recording = False

    assert rejected == []
    assert commands.sent, "nothing was recorded"
    assert commands.costly() == []
    assert {name for name, _ in commands.sent.values()} <= {"insert", "find"}
