import dataclasses

from cercle_common.settings import ENVIRONMENT, Settings


def test_defaults_point_at_the_local_stack() -> None:
    settings = Settings.from_env(environ={})
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.org_timezone == "Europe/Paris"
    assert settings.enps_min_group == 5
    assert not settings.is_production


def test_environment_then_overrides_win() -> None:
    settings = Settings.from_env(
        {"mongo_db_prefix": "t_"}, environ={"ENPS_MIN_GROUP": "7", "CERCLE_ENV": "prod"}
    )
    assert settings.enps_min_group == 7
    assert settings.is_production
    assert settings.database_name("points") == "t_cercle_points"


def test_every_variable_maps_to_exactly_one_field() -> None:
    names = {field.name for field in dataclasses.fields(Settings)}
    assert len(names) == len(ENVIRONMENT)
    assert Settings.from_env(environ={}) == Settings.from_env(environ=dict(ENVIRONMENT))
