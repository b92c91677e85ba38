"""Events in on Kafka, points out over HTTP and on `cercle.points.v1`."""

from __future__ import annotations

import json
import uuid

from flask.testing import FlaskClient
from kafka import KafkaConsumer, TopicPartition

from cercle_common.messaging import client_options
from cercle_common.topics import DEADLETTER, POINTS
from tests.integration.points.harness import PointsHarness, wait_until


def _directory_known(harness: PointsHarness, *employee_ids: str) -> None:
    def known() -> bool:
        assert harness.processor is not None
        return all(employee in harness.processor.directory for employee in employee_ids)

    wait_until(known, message="directory snapshots")


def test_shares_score_and_rank_with_earliest_first_on_ties(
    harness: PointsHarness, client: FlaskClient
) -> None:
    harness.start()
    first = harness.employee(team="t-x")
    second = harness.employee(team="t-x")
    third = harness.employee(team="t-y", visibility="pseudonym", pseudonym="Blue Fox")
    _directory_known(harness, first, second, third)
    harness.event(first, "content.shared", {"content_id": "c-1", "network": "linkedin"})
    harness.event(second, "content.shared", {"content_id": "c-1", "network": "linkedin"})
    harness.event(third, "course.completed", {"course_id": "k-1", "score": 80, "track": "ai"})
    last = harness.event(first, "content.shared", {"content_id": "c-1", "network": "linkedin"})
    harness.wait_applied(first, last.sequence)
    harness.wait_applied(third, harness.sent[2].sequence)

    board = client.get("/v1/leaderboards/employees?period=all&first=10").get_json()
    ours = [e for e in board["entries"] if e["employee_id"] in {first, second} or e["pseudonym"]]
    assert [(e["employee_id"], e["pseudonym"], e["points"]) for e in ours] == [
        (None, "Blue Fox", 20),
        (first, None, 10),
        (second, None, 10),
    ]
    assert board["period"] == "all" and board["scope"] == "global"

    team = client.get("/v1/leaderboards/employees?period=week&scope=team&team_id=t-x").get_json()
    assert [(e["rank"], e["employee_id"]) for e in team["entries"]] == [(1, first), (2, second)]

    points = client.get(f"/v1/employees/{first}/points").get_json()
    assert points["points"]["all"] == 10 and points["points"]["day"] == 10

    ledger = client.get(f"/v1/employees/{first}/ledger").get_json()
    assert [(e["points"], e["rule_id"]) for e in ledger["entries"]] == [
        (0, "share.professional"),
        (10, "share.professional"),
    ]
    assert ledger["entries"][1]["explanation"] == (
        "shared on LinkedIn: +10; daily cap 3, 1 used; weekly cap 10, 1 used"
    )
    assert "already scored once" in ledger["entries"][0]["explanation"]

    around = client.get(
        f"/v1/leaderboards/employees/around/{second}?radius=1&scope=team"
    ).get_json()
    assert around["rank"] == 2 and around["points"] == 10
    assert [e["employee_id"] for e in around["entries"]] == [first, second]


def test_ledger_entries_are_published_on_the_points_topic(harness: PointsHarness) -> None:
    harness.start()
    employee = harness.employee()
    _directory_known(harness, employee)
    event = harness.event(employee, "charter.acknowledged", {"charter_id": "ch-1", "version": 2})
    harness.wait_applied(employee, event.sequence)

    consumer = KafkaConsumer(**client_options(harness.settings), enable_auto_commit=False)
    partitions = [TopicPartition(POINTS, p) for p in consumer.partitions_for_topic(POINTS)]
    consumer.assign(partitions)
    ends = consumer.end_offsets(partitions)
    for partition in partitions:
        consumer.seek(partition, max(ends[partition] - 200, 0))
    found: list[dict[str, object]] = []

    def published() -> bool:
        for batch in consumer.poll(timeout_ms=500).values():
            for message in batch:
                if message.key == employee.encode():
                    found.append(json.loads(message.value))
        return bool(found)

    try:
        wait_until(published, message="the points message")
    finally:
        consumer.close()
    assert found[0]["id"] == f"{event.id}:charter.acknowledged"
    assert found[0]["points"] == 15 and found[0]["rules_version"] == 1
    assert found[0]["reverses"] is None


def test_bad_event_is_dead_lettered_and_the_consumer_goes_on(harness: PointsHarness) -> None:
    harness.start()
    employee = harness.employee()
    _directory_known(harness, employee)
    marker = f"bad-{uuid.uuid4().hex}"
    harness.raw("cercle.events.v1", employee, json.dumps({"id": marker}).encode())
    harness.event(employee, "content.shared", {"content_id": "c-1"})  # no network
    good = harness.event(employee, "survey.answered", {"survey_id": "s-1", "kind": "enps"})
    harness.wait_applied(employee, good.sequence)
    assert harness.processor is not None
    assert harness.processor.states[employee].total("all") == 5

    consumer = KafkaConsumer(**client_options(harness.settings), enable_auto_commit=False)
    partitions = [TopicPartition(DEADLETTER, p) for p in consumer.partitions_for_topic(DEADLETTER)]
    consumer.assign(partitions)
    ends = consumer.end_offsets(partitions)
    for partition in partitions:
        consumer.seek(partition, max(ends[partition] - 500, 0))
    reasons: dict[str, str] = {}

    def dead_lettered() -> bool:
        for batch in consumer.poll(timeout_ms=500).values():
            for message in batch:
                if message.key != employee.encode():
                    continue
                headers = dict(message.headers)
                reasons[message.value.decode()] = headers["cercle.field"].decode()
        return len(reasons) >= 2

    try:
        wait_until(dead_lettered, message="two dead letters")
    finally:
        consumer.close()
    assert sorted(reasons.values()) == ["data.network", "type"]
