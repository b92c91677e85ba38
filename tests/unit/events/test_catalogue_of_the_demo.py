"""The demo loads a catalogue first: every action of its story names a catalogued item,
passes the catalogue's rules and comes from a source trusted with it."""

from __future__ import annotations

from datetime import UTC, datetime

from cercle_common.envelope import parse_instant
from devstack.demo import build_catalogue, build_directory, build_events
from services.events.domain.catalogue import (
    KIND_OF_COLLECTION,
    REFERENCES,
    SHARE_FOLLOW_UPS,
    ShareOnRecord,
    check_against_item,
    check_share_reference,
    parse_item,
)
from services.events.domain.trust import HTTP, check_source_may_send

END = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def test_every_demo_action_names_a_catalogued_item_and_a_trusted_source() -> None:
    catalogue = {}
    for collection, item_id, body in build_catalogue():
        kind = KIND_OF_COLLECTION[collection]
        catalogue[(kind, item_id)] = {**parse_item(kind, item_id, body), "active": True}
    events = build_events(build_directory(), END)
    shares = {}
    for event in events:
        check_source_may_send(event["source"], event["type"], HTTP)
        data, at = event["data"], parse_instant(event["occurred_at"], "occurred_at")
        if event["type"] in REFERENCES:
            kind, field = REFERENCES[event["type"]]
            check_against_item(event["type"], data, at, catalogue.get((kind, data[field])))
        if event["type"] == "content.shared":
            shares[event["id"]] = ShareOnRecord(event["type"], event["employee_id"])
        if event["type"] in SHARE_FOLLOW_UPS:
            # Events are sent in time order, so the share is accepted before what it drew.
            check_share_reference(event["employee_id"], shares.get(data["share_event_id"]))
    kinds = {event["type"] for event in events}
    assert kinds >= {"content.shared", "share.engaged", "course.completed", "survey.answered"}
