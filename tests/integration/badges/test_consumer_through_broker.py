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


def first_share_award(components, employee_id: str) -> str:
    return components.service.award_id(employee_id, "first-share", "standard")


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
            "id": first_share_award(components, employee_id),
            "employee_id": employee_id,
            "badge_id": "first-share",
            "tier": "standard",
            "status": "awarded",
            "at": "2026-11-02T09:00:00Z",
            "evidence": [share.id],
            "reason": None,
        }
    ]
    projection = components.service.awards.get(first_share_award(components, employee_id))
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
    assert revoked[0]["id"] == first_share_award(components, employee_id)
    assert revoked[0]["reason"] == f"evidence reversed by share.deleted {deleted.id}"
    assert (
        components.service.awards.get(first_share_award(components, employee_id))["status"]
        == "revoked"
    )


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
        wait_until(
            lambda: components.service.awards.get(first_share_award(components, employee_id))
        )
        entry = wait_until(lambda: components.service.directory.entries([employee_id]))
        assert entry[employee_id]["team"] == "t-blue"
        send(producer, EMPLOYEES, employee_id, None)
        producer.flush()
        wait_until(
            lambda: (
                components.service.awards.get(first_share_award(components, employee_id)) is None
            ),
            what="awards erased",
        )
    assert components.service.states.load(employee_id)[1] is None
    assert components.service.directory.entries([employee_id]) == {}


def test_events_are_applied_once_by_id_whatever_their_sequence(
    settings, components, producer, employee_id
):
    twin_a = envelope(employee_id, 5, event_id=f"{employee_id}-a", content_id="c-1")
    twin_b = envelope(employee_id, 5, event_id=f"{employee_id}-b", content_id="c-2")
    again_a = envelope(employee_id, 9, event_id=f"{employee_id}-a", content_id="c-1")
    late_c = envelope(employee_id, 3, event_id=f"{employee_id}-c", content_id="c-3")

    def counted() -> list[str]:
        state, _ = components.service.states.load(employee_id)
        return [match.event_id for match in state.matches.get("ambassador", [])]

    with running_consumer(settings, components):
        for event in (twin_a, twin_b, again_a, late_c):
            send(producer, EVENTS, employee_id, event.to_json())
        producer.flush()
        # Same key, same partition: once the last is applied, the others were handled.
        wait_until(lambda: late_c.id in counted(), what="the last event applied")
    assert counted() == [twin_a.id, twin_b.id, late_c.id]


def test_ledger_entries_are_applied_once_by_id_whatever_their_sequence(
    settings, components, producer, employee_id
):
    def entry(event: str, sequence: int, points: int) -> bytes:
        return json.dumps(
            {
                "id": f"{employee_id}-{event}:share",
                "event_id": f"{employee_id}-{event}",
                "employee_id": employee_id,
                "points": points,
                "occurred_at": "2026-11-02T09:00:00Z",
                "sequence": sequence,
                "reverses": None,
            }
        ).encode()

    with running_consumer(settings, components):
        # x twice (under two sequences), y beside x, z late with a lower sequence, then a
        # last entry of 0 points to know that everything before it was handled.
        for event, sequence, points in (
            ("x", 5, 40),
            ("y", 5, 30),
            ("x", 8, 40),
            ("z", 2, 50),
            ("last", 20, 0),
        ):
            send(producer, POINTS, employee_id, entry(event, sequence, points))
        producer.flush()
        wait_until(
            lambda: components.service.states.load(employee_id)[0].points_position == 20,
            what="the last entry applied",
        )
    state, _ = components.service.states.load(employee_id)
    assert state.totals["all"] == 40 + 30 + 50


def test_a_bad_instant_is_dead_lettered_alone_and_its_batch_siblings_count(
    settings, components, producer, employee_id, watch
):
    group = f"it-mixed-{employee_id}"
    start_group_at_end(settings, group, (EVENTS, POINTS, EMPLOYEES))
    dead = watch(DEADLETTER)
    past_calendar = envelope(employee_id, 2, occurred_at="9999-12-31T23:30:00Z", content_id="c-2")
    overflowing = envelope(employee_id, 3, content_id="c-3").to_dict()
    overflowing["occurred_at"] = "0001-01-01T00:00:00+14:00"
    # Sent before the consumer starts, so that its first poll takes them as one batch.
    send(producer, EVENTS, employee_id, envelope(employee_id, 1, content_id="c-1").to_json())
    send(producer, EVENTS, employee_id, past_calendar.to_json())
    send(producer, EVENTS, employee_id, json.dumps(overflowing).encode())
    send(producer, EVENTS, employee_id, envelope(employee_id, 4, content_id="c-4").to_json())
    producer.flush()
    with running_consumer(settings, components, group=group):
        wait_until(
            lambda: components.service.states.load(employee_id)[0].event_position == 4,
            what="the valid events applied",
        )
        dead.wait_for(lambda r: r.key == employee_id.encode())
        records = dead.collect(2.0)
    state, _ = components.service.states.load(employee_id)
    assert [m.event_id for m in state.matches["ambassador"]] == [
        f"{employee_id}-ev-1",
        f"{employee_id}-ev-4",
    ]
    assert "first-share:standard" in state.awards
    mine = [r for r in records if r.key == employee_id.encode()]
    assert sorted(json.loads(r.value)["sequence"] for r in mine) == [2, 3]
    assert {dict(r.headers)["cercle.field"] for r in mine} == {b"occurred_at"}
