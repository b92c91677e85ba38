from cercle_common.mongo import connect
from cercle_common.settings import Settings
from services.indexes import ensure_all_indexes


def test_indexes_are_created_in_every_service_database_and_again_harmlessly(
    settings: Settings,
) -> None:
    names = ensure_all_indexes(settings)
    assert ensure_all_indexes(settings) == names  # idempotent
    outbox = connect(settings, "events", alias="check-events")["outbox"]
    assert "entry_1" in outbox.index_information()
    awards = connect(settings, "badges", alias="check-badges")["awards"]
    assert "employee_id_1" in awards.index_information()
    for name in names:
        outbox.database.client.drop_database(name)
    outbox.database.client.close()
    awards.database.client.close()
