"""Fixtures for the points service against the real broker, Mongo server and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from pymongo import MongoClient

from cercle_common.messaging import make_producer
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS
from services.points.adapters.board_index import LeaderboardIndex
from services.points.entrypoints.app import create_app
from tests.integration.points.harness import PointsHarness, start_group_at_end


@pytest.fixture
def harness(settings: Settings) -> Iterator[PointsHarness]:
    """A points consumer of this test's own (not started: call `harness.start()`)."""
    group = f"it-points-{uuid.uuid4().hex[:10]}"
    offsets = start_group_at_end(settings, group, [EVENTS, EMPLOYEES])
    producer = make_producer(settings)
    running = PointsHarness(settings, producer, group, offsets)
    try:
        yield running
    finally:
        running.stop()
        producer.close(timeout=10)


@pytest.fixture
def client(settings: Settings) -> FlaskClient:
    """The points API on this test's databases, called with the service token."""
    authenticated = create_app(settings).test_client()
    authenticated.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {settings.service_token}"
    return authenticated


@pytest.fixture(autouse=True)
def cleanup(settings: Settings) -> Iterator[None]:
    """Leave the shared stack tidy: drop this test's database and index keys afterwards
    (torn down last, after the consumer has stopped)."""
    yield
    client: MongoClient = MongoClient(settings.mongo_url)
    try:
        client.drop_database(settings.database_name("points"))
    finally:
        client.close()
    LeaderboardIndex.from_settings(settings).clear()
