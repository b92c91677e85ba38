"""A document round-trips through the real MongoDB wire-protocol server, and a repeated
`_id` is refused, the guard every idempotent write relies on."""

from __future__ import annotations

from datetime import UTC, datetime

import mongoengine
import pytest
from pymongo import InsertOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from cercle_common.mongo import connect, is_duplicate_key, ping
from cercle_common.settings import Settings


class Sample(mongoengine.Document):
    meta = {"collection": "samples"}
    id = mongoengine.StringField(primary_key=True)
    points = mongoengine.IntField(required=True)
    at = mongoengine.DateTimeField(required=True)


def test_document_round_trips_and_duplicate_id_is_refused(settings: Settings) -> None:
    database = connect(settings, "roundtrip")
    ping(database)
    at = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    Sample(id="evt-1:share", points=10, at=at).save(force_insert=True)

    stored = Sample.objects.get(id="evt-1:share")
    assert (stored.points, stored.at) == (10, at)
    with pytest.raises(DuplicateKeyError) as raised:
        database.samples.insert_one({"_id": "evt-1:share", "points": 99})
    assert is_duplicate_key(raised.value)
    assert database.samples.find_one({"_id": "evt-1:share"})["points"] == 10
    database.client.drop_database(database.name)
    mongoengine.disconnect()


def test_unordered_bulk_insert_reports_only_duplicates(settings: Settings) -> None:
    database = connect(settings, "roundtrip")
    database.entries.insert_one({"_id": "a"})
    with pytest.raises(BulkWriteError) as raised:
        database.entries.bulk_write(
            [InsertOne({"_id": "a"}), InsertOne({"_id": "b"})], ordered=False
        )
    assert is_duplicate_key(raised.value)
    assert sorted(doc["_id"] for doc in database.entries.find()) == ["a", "b"]
    database.client.drop_database(database.name)
    mongoengine.disconnect()
