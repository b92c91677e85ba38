import dataclasses

import pytest

from cercle_common.settings import (
    ENVIRONMENT,
    PRODUCTION_SECRETS,
    SECRETS,
    ConfigurationError,
    Settings,
)


def test_defaults_point_at_the_local_stack() -> None:
    settings = Settings.from_env(environ={})
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.org_timezone == "Europe/Paris"
    assert settings.enps_min_group == 5
    assert not settings.is_production


def test_environment_then_overrides_win() -> None:
    settings = Settings.from_env(
        {"mongo_db_prefix": "t_"}, environ={"ENPS_MIN_GROUP": "7", **prod()}
    )
    assert settings.enps_min_group == 7
    assert settings.is_production
    assert settings.database_name("points") == "t_cercle_points"


def test_every_variable_maps_to_exactly_one_field() -> None:
    names = {field.name for field in dataclasses.fields(Settings)}
    assert len(names) == len(ENVIRONMENT)
    assert Settings.from_env(environ={}) == Settings.from_env(environ=dict(ENVIRONMENT))


STRONG = {
    "JWT_SECRET": "j" * 40,
    "ADMIN_TOKEN": "a" * 40,
    "SERVICE_TOKEN": "s" * 40,
    "BADGE_SALT": "b" * 20,
}


def prod(**variables: str) -> dict[str, str]:
    """A production environment with strong secrets, then `variables`."""
    return {"CERCLE_ENV": "prod", **STRONG, **variables}


def refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(environ=environ)
    return str(refused.value)


def test_production_with_strong_secrets_builds() -> None:
    settings = Settings.from_env(environ=prod())
    assert settings.is_production
    assert settings.service_token == "s" * 40


def test_production_refuses_the_development_defaults_and_names_every_variable() -> None:
    assert refusal({"CERCLE_ENV": "prod"}) == (
        "refusing to start with CERCLE_ENV=prod:"
        " JWT_SECRET is missing (the development value is public)"
        " (or set JWT_PUBLIC_KEY or JWT_JWKS_URL);"
        " ADMIN_TOKEN is missing (the development value is public);"
        " SERVICE_TOKEN is missing (the development value is public);"
        " BADGE_SALT is missing (the development value is public)"
    )


@pytest.mark.parametrize("variable", sorted(PRODUCTION_SECRETS))
def test_production_refuses_each_secret_missing_default_short_or_placeholder(
    variable: str,
) -> None:
    assert refusal(prod(**{variable: ""})).endswith(f"{variable} is not set" + _hint(variable))
    development = ENVIRONMENT[variable]
    assert "missing (the development value is public)" in refusal(prod(**{variable: development}))
    short = "x" * (PRODUCTION_SECRETS[variable] - 1)
    assert f"{variable} is shorter than" in refusal(prod(**{variable: short}))
    placeholder = "<at least 32 random bytes, please fill me in>"
    assert f"{variable} is still the example's placeholder" in refusal(
        prod(**{variable: placeholder})
    )


def _hint(variable: str) -> str:
    return " (or set JWT_PUBLIC_KEY or JWT_JWKS_URL)" if variable == "JWT_SECRET" else ""


def test_a_refusal_never_shows_a_secret_value() -> None:
    message = refusal(prod(ADMIN_TOKEN="short-but-secret"))
    assert "short-but-secret" not in message


def test_repr_shows_no_secret_nor_a_password_inside_a_url() -> None:
    secrets = {variable: f"{variable.lower()}-secret-{'x' * 32}" for variable in SECRETS}
    environ = prod(
        **secrets,
        MONGO_URL="mongodb://cercle:m0ngo-pa@ss/word@db-0:27017,db-1:27017/?replicaSet=rs0",
        REDIS_URL="rediss://:r3dis-password@valkey:6380/0",
        KAFKA_SASL_USERNAME="cercle-points",
    )
    shown = repr(Settings.from_env(environ=environ))
    for value in [*secrets.values(), "m0ngo-pa", "ss/word", "r3dis-password"]:
        assert value not in shown
    # What helps reading a log stays: who connects where, and whether a secret is set.
    assert "mongo_url='mongodb://cercle:***@db-0:27017,db-1:27017/?replicaSet=rs0'" in shown
    assert "redis_url='rediss://:***@valkey:6380/0'" in shown
    assert "kafka_sasl_username='cercle-points'" in shown
    assert "jwt_secret='***'" in shown
    assert str(Settings.from_env(environ=environ)) == shown


def test_repr_names_every_field_and_leaves_urls_without_a_password_as_they_are() -> None:
    settings = Settings.from_env(environ={"JWT_SECRET": ""})
    shown = repr(settings)
    assert shown.startswith("Settings(env='dev', ")
    assert all(f"{field.name}=" in shown for field in dataclasses.fields(Settings))
    assert "mongo_url='mongodb://127.0.0.1:27017/'" in shown
    assert "jwt_secret=''" in shown


@pytest.mark.parametrize("key", ["JWT_PUBLIC_KEY", "JWT_JWKS_URL"])
def test_an_identity_provider_key_replaces_the_jwt_secret(key: str) -> None:
    environ = prod(JWT_SECRET="", **{key: "https://idp.example.com/jwks"})
    assert Settings.from_env(environ=environ).jwt_secret == ""


def test_production_refuses_one_token_for_both_service_and_admin_calls() -> None:
    message = refusal(prod(SERVICE_TOKEN="a" * 40))
    assert message.endswith("ADMIN_TOKEN, SERVICE_TOKEN and the tools' tokens must all differ")


def test_production_refuses_a_tool_token_that_another_holder_has() -> None:
    message = refusal(prod(LMS_TOKEN="a" * 40))
    assert message.endswith("ADMIN_TOKEN, SERVICE_TOKEN and the tools' tokens must all differ")


def test_production_refuses_a_short_tool_token_and_never_accepts_a_development_one() -> None:
    assert "SURVEY_TOOL_TOKEN is shorter than 32" in refusal(prod(SURVEY_TOOL_TOKEN="short"))
    # Left out, a tool's token takes its public development value: that tool then has no
    # HTTP access in production, instead of one anybody could use.
    settings = Settings.from_env(environ=prod(LMS_TOKEN="l" * 40))
    assert settings.tool_tokens() == {"lms": "l" * 40}
    assert Settings.from_env(environ={}).tool_tokens()["survey-tool"] == (
        "cercle-dev-survey-tool-token"
    )


def test_overrides_are_checked_too() -> None:
    with pytest.raises(ConfigurationError, match="ADMIN_TOKEN is not set"):
        Settings.from_env({"admin_token": ""}, environ=prod())
    with pytest.raises(ConfigurationError, match="BADGE_SALT"):
        dataclasses.replace(Settings.from_env(environ=prod()), badge_salt="cercle-dev-salt")


def test_an_unknown_environment_name_is_refused_rather_than_run_as_development() -> None:
    assert refusal({"CERCLE_ENV": "production"}) == (
        "refusing to start with CERCLE_ENV=production: CERCLE_ENV must be one of dev, prod"
    )


def test_a_number_that_is_not_one_names_its_variable() -> None:
    assert refusal({"GATEWAY_MAX_COST": "lots"}) == "GATEWAY_MAX_COST must be an integer"


def test_development_needs_no_environment_and_keeps_its_dev_secrets() -> None:
    settings = Settings.from_env(environ={})
    assert (settings.admin_token, settings.service_token) == (
        "cercle-dev-admin-token",
        "cercle-dev-service-token",
    )
