import mongoengine
import pytest

from cercle_common.mongo import connect
from cercle_common.settings import Settings


def test_a_database_named_in_mongo_url_is_refused() -> None:
    settings = Settings.from_env({"mongo_url": "mongodb://127.0.0.1:1/other?authSource=admin"})
    with pytest.raises(ValueError, match="must not name a database"):
        connect(settings, "points")


def test_each_service_gets_its_own_database() -> None:
    settings = Settings.from_env({"mongo_url": "mongodb://127.0.0.1:1/?authSource=admin"})
    try:
        assert connect(settings, "points").name == "cercle_points"
    finally:
        mongoengine.disconnect_all()  # closes the client it opened (no server contacted)
