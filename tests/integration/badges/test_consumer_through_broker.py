"""The badges consumer through the real Kafka broker and MongoDB wire server."""

from __future__ import annotations

import json

from cercle_common.topics import BADGES, DEADLETTER, EMPLOYEES, EVENTS, POINTS
from tests.integration.badges.conftest import (
    badge_messages,
    envelope,
    running_consumer,
    start_group_at_end,
    wait_until,
)

AWARD = "{}:first-share:standard"


def send(producer, topic: str, key: str, value: bytes | None) -> None:
    producer.send(topic, key=key.encode(), value=value)


def awards_of(components, employee_id: str) -> dict:
    state, _ = components.service.states.load(employee_id)
    return {key: award.status for key, award in state.awards.items()}


def test_first_share_is_awarded_once_despite_duplicates_and_announced(
    settings, components, producer, employee_id, watch
):
    badges = watch(BADGES)
    share = envelope(employee_id, 1, content_id="c-1", network="linkedin")
    with running_consumer(settings, components):
        for _ in range(3):  # the same event delivered three times
            send(producer, EVENTS, employee_id, share.to_json())
        send(producer, EVENTS, employee_id, envelope(employee_id, 2, content_id="c-2").to_json())
        producer.flush()
        wait_until(
            lambda: components.service.states.load(employee_id)[0].event_position == 2,
            what="both events applied",
        )
        records = badges.wait_for(lambda r: r.key == employee_id.encode())
        records = badges.collect(2.0)
    messages = [m for m in badge_messages(records, employee_id) if m["badge_id"] == "first-share"]
    assert messages == [
        {
            "id": AWARD.format(employee_id),
            "employee_id": employee_id,
            "badge_id": "first-share",
            "tier": "standard",
            "status": "awarded",
            "at": "2026-11-02T09:00:00Z",
            "evidence": [share.id],
            "reason": None,
        }
    ]
    projection = components.service.awards.get(AWARD.format(employee_id))
    assert (projection["status"], projection["evidence"]) == ("awarded", [share.id])
    state, _ = components.service.states.load(employee_id)
    assert state.outbox == []


def test_share_deleted_revokes_the_award_through_the_broker(
    settings, components, producer, employee_id, watch
):
    badges = watch(BADGES)
    share = envelope(employee_id, 10, content_id="c-1")
    deleted = envelope(
        employee_id, 11, "share.deleted", "2026-11-03T09:00:00Z", share_event_id=share.id
    )
    with running_consumer(settings, components):
        send(producer, EVENTS, employee_id, share.to_json())
        send(producer, EVENTS, employee_id, deleted.to_json())
        producer.flush()
        records = badges.wait_for(
            lambda r: r.key == employee_id.encode() and b'"revoked"' in (r.value or b"")
        )
    revoked = [m for m in badge_messages(records, employee_id) if m["status"] == "revoked"]
    assert revoked[0]["id"] == AWARD.format(employee_id)
    assert revoked[0]["reason"] == f"evidence reversed by share.deleted {deleted.id}"
    assert components.service.awards.get(AWARD.format(employee_id))["status"] == "revoked"


def test_points_ledger_entries_reach_milestones_and_duplicates_count_once(
    settings, components, producer, employee_id
):
    def ledger(sequence: int, points: int) -> bytes:
        event_id = f"{employee_id}-ev-{sequence}"
        return json.dumps(
            {
                "id": f"{event_id}:share",
                "event_id": event_id,
                "event_type": "content.shared",
                "employee_id": employee_id,
                "rule_id": "share",
                "rules_version": "1",
                "points": points,
                "explanation": "test",
                "occurred_at": "2026-11-02T09:00:00Z",
                "sequence": sequence,
                "reverses": None,
            }
        ).encode()

    with running_consumer(settings, components):
        for sequence in (1, 2, 2, 1, 3):
            send(producer, POINTS, employee_id, ledger(sequence, 40))
        producer.flush()
        wait_until(
            lambda: "points-milestones:bronze" in awards_of(components, employee_id),
            what="bronze milestone",
        )
        wait_until(lambda: components.service.states.load(employee_id)[0].points_position == 3)
    state, _ = components.service.states.load(employee_id)
    assert state.totals["all"] == 120
    assert state.awards["points-milestones:bronze"].evidence == [f"{employee_id}-ev-3"]


def test_poison_messages_are_dead_lettered_and_the_consumer_goes_on(
    settings, components, producer, employee_id, watch
):
    dead = watch(DEADLETTER)
    without_sequence = envelope(employee_id, 1, event_id=f"{employee_id}-noseq").to_dict()
    without_sequence.pop("sequence")
    with running_consumer(settings, components) as consumer:
        send(producer, EVENTS, employee_id, b"{not json")
        send(producer, EVENTS, employee_id, json.dumps(without_sequence).encode())
        send(producer, POINTS, employee_id, b'{"id": "x"}')
        send(producer, EVENTS, employee_id, envelope(employee_id, 5, content_id="c").to_json())
        producer.flush()
        wait_until(
            lambda: "first-share:standard" in awards_of(components, employee_id),
            what="the good event applied after the bad ones",
        )
        records = dead.wait_for(
            lambda r: r.key == employee_id.encode() and r.topic == DEADLETTER, seconds=20
        )
        records = dead.collect(1.0)
    mine = [r for r in records if r.key == employee_id.encode()]
    reasons = sorted(dict(r.headers)["cercle.reason"].decode() for r in mine)
    assert len(mine) == 3
    assert any(reason.startswith("not JSON") for reason in reasons)
    assert "sequence: is required on cercle.events.v1 (set by the events service)" in reasons
    assert any(reason.startswith("event_id:") for reason in reasons)
    assert all(dict(r.headers)["cercle.consumer_group"] == consumer.group.encode() for r in mine)


def test_replaying_the_log_in_another_group_changes_nothing(
    settings, components, producer, employee_id, watch
):
    replay_group = f"it-badges-{employee_id}-replay"
    start_group_at_end(settings, replay_group, (EVENTS, POINTS, EMPLOYEES))
    with running_consumer(settings, components):
        for sequence in range(1, 6):
            share = envelope(employee_id, sequence, content_id=f"c-{sequence}")
            send(producer, EVENTS, employee_id, share.to_json())
        producer.flush()
        wait_until(
            lambda: components.service.states.load(employee_id)[0].event_position == 5,
            what="five events applied",
        )
    before, version = components.service.states.load(employee_id)
    assert "ambassador:bronze" in before.awards
    badges = watch(BADGES)
    with running_consumer(settings, components, group=replay_group):
        # The replaying group reads the same five events again.
        badges.collect(4.0)
    after, version_after = components.service.states.load(employee_id)
    assert (after, version_after) == (before, version)
    assert badge_messages(badges.records, employee_id) == []


def test_a_directory_tombstone_erases_the_employee(settings, components, producer, employee_id):
    snapshot = {
        "employee_id": employee_id,
        "team": "t-blue",
        "visibility": "visible",
        "pseudonym": None,
        "active": True,
        "version": 1,
    }
    with running_consumer(settings, components):
        send(producer, EMPLOYEES, employee_id, json.dumps(snapshot).encode())
        send(producer, EVENTS, employee_id, envelope(employee_id, 1, content_id="c").to_json())
        producer.flush()
        wait_until(lambda: components.service.awards.get(AWARD.format(employee_id)))
        entry = wait_until(lambda: components.service.directory.entries([employee_id]))
        assert entry[employee_id]["team"] == "t-blue"
        send(producer, EMPLOYEES, employee_id, None)
        producer.flush()
        wait_until(
            lambda: components.service.awards.get(AWARD.format(employee_id)) is None,
            what="awards erased",
        )
    assert components.service.states.load(employee_id)[1] is None
    assert components.service.directory.entries([employee_id]) == {}
