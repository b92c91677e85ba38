"""Shared by every test layer."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import mongoengine
import pytest
from pymongo import MongoClient


def open_mongo_clients() -> list[MongoClient]:
    """Clients connected and never closed (pymongo keeps no public flag for it; these two
    private ones are what its own unclosed-client warning reads). `type()`, since
    `isinstance()` dereferences weak proxies and a dead one raises."""
    gc.collect()
    return [
        client
        for client in gc.get_objects()
        if issubclass(type(client), MongoClient) and client._opened and not client._closed
    ]


@pytest.fixture(scope="session", autouse=True)
def close_database_clients() -> Iterator[None]:
    """Services and harnesses keep their MongoDB clients for their lifetime: close every
    one the session registered, then fail if any other was left open (it would warn
    "Unclosed MongoClient" when collected)."""
    yield
    mongoengine.disconnect_all()
    left_open = open_mongo_clients()
    assert not left_open, f"{len(left_open)} MongoDB clients left open"


@pytest.fixture(autouse=True)
def _collect_kafka_sockets_left_open() -> Iterator[None]:
    """kafka-python 3.0 can leave a bootstrap socket open after `close()`; collected
    later, inside another test, its ResourceWarning fails that test (filterwarnings =
    error). Collect after each test of every layer, so a leak is never charged to the
    next one."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
