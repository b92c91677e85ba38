"""Integration tests run against the real local Kafka broker and MongoDB wire-protocol
server that `make test` starts (their addresses come in the environment)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from cercle_common.settings import Settings


@pytest.fixture
def settings() -> Iterator[Settings]:
    """Settings pointing at the running stack, with databases of this test's own."""
    missing = [name for name in ("KAFKA_BOOTSTRAP_SERVERS", "MONGO_URL") if name not in os.environ]
    if missing:
        pytest.fail(f"the local stack is not running ({', '.join(missing)} unset): use make test")
    yield Settings.from_env({"mongo_db_prefix": f"it_{uuid.uuid4().hex[:10]}_"})
