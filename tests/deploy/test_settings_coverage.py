"""The manifests give every Cercle process exactly the variables the settings read
(cercle_common.settings.ENVIRONMENT), and the values agree with the rest of the kit."""

from __future__ import annotations

from secrets import token_hex
from urllib.parse import parse_qs, urlsplit

import pytest

from cercle_common.settings import ENVIRONMENT, ConfigurationError, Settings
from gateway.auth import TokenVerifier
from tests.deploy.kit import (
    PROD_SECRETS_EXAMPLE,
    Manifest,
    cercle_workloads,
    config_map,
    environment_of,
    find,
    one,
    parse_env_file,
    secret_keys,
)

# gunicorn's workers share their metrics through it (cercle_common.metrics.render).
PROCESS_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR"}
PER_WORKLOAD = {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}
SERVICES = ("events", "points", "badges")


def test_every_cercle_container_receives_every_setting(manifests: list[Manifest]) -> None:
    missing = {
        w.name: sorted(set(ENVIRONMENT) - set(environment_of(manifests, w.app)))
        for w in cercle_workloads(manifests)
    }
    assert {name: gaps for name, gaps in missing.items() if gaps} == {}


def test_no_cercle_container_receives_a_variable_the_settings_do_not_read(
    manifests: list[Manifest],
) -> None:
    unknown = {
        w.name: sorted(set(environment_of(manifests, w.app)) - set(ENVIRONMENT) - PROCESS_VARIABLES)
        for w in cercle_workloads(manifests)
    }
    assert {name: extra for name, extra in unknown.items() if extra} == {}


def test_config_map_and_secret_split_the_settings_between_them(
    manifests: list[Manifest],
) -> None:
    config = set(config_map(manifests, "cercle-config"))
    secret = set(secret_keys(manifests, "cercle-secrets"))
    assert config & secret == set()
    assert config | secret | PER_WORKLOAD == set(ENVIRONMENT)
    # What would leak if it were in the ConfigMap.
    assert {
        "MONGO_URL",
        "REDIS_URL",
        "JWT_SECRET",
        "ADMIN_TOKEN",
        "SERVICE_TOKEN",
        "BADGE_SALT",
    } <= secret


def test_dev_secret_and_prod_example_hold_the_same_keys() -> None:
    from tests.deploy.kit import render

    dev = set(secret_keys(render("dev"), "cercle-secrets"))
    assert dev == set(parse_env_file(PROD_SECRETS_EXAMPLE))


def test_gunicorn_metrics_directory_is_a_writable_volume(manifests: list[Manifest]) -> None:
    for workload in cercle_workloads(manifests):
        if not workload.is_api:
            continue
        directory = environment_of(manifests, workload.app)["PROMETHEUS_MULTIPROC_DIR"]
        mounts = {m["mountPath"]: m["name"] for m in workload.app["volumeMounts"]}
        volumes = {v["name"]: v for v in workload.pod_spec["volumes"]}
        assert "emptyDir" in volumes[mounts[directory]], workload.name


def test_each_service_logs_in_to_kafka_as_its_own_user(manifests: list[Manifest]) -> None:
    users = {u["metadata"]["name"] for u in find(manifests, "KafkaUser")}
    for workload in cercle_workloads(manifests):
        received = environment_of(manifests, workload.app)
        username = received["KAFKA_SASL_USERNAME"]
        password = received["KAFKA_SASL_PASSWORD"]
        service = workload.name.split("-")[0]
        if service in SERVICES:
            assert username == f"cercle-{service}" and username in users, workload.name
            # The user operator writes the password into a Secret named after the user.
            assert password == {"secretKeyRef": {"name": username, "key": "password"}}
        else:
            assert username == "" and password == "", workload.name


def test_kafka_settings_point_at_the_strimzi_listener(manifests: list[Manifest]) -> None:
    config = config_map(manifests, "cercle-config")
    (kafka,) = find(manifests, "Kafka")
    host, _, port = config["KAFKA_BOOTSTRAP_SERVERS"].partition(":")
    assert host == f"{kafka['metadata']['name']}-kafka-bootstrap"
    (listener,) = [x for x in kafka["spec"]["kafka"]["listeners"] if x["port"] == int(port)]
    assert listener["authentication"]["type"] == "scram-sha-512"
    assert config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    expected = "SASL_SSL" if listener["tls"] else "SASL_PLAINTEXT"
    assert config["KAFKA_SECURITY_PROTOCOL"] == expected


def test_service_urls_name_the_api_services(manifests: list[Manifest]) -> None:
    config = config_map(manifests, "cercle-config")
    for service in SERVICES:
        url = urlsplit(config[f"{service.upper()}_URL"])
        target = one(manifests, "Service", f"{service}-api")
        assert url.hostname == target["metadata"]["name"]
        assert url.port in {p["port"] for p in target["spec"]["ports"]}


def test_mongo_url_names_the_replica_set_and_no_database(manifests: list[Manifest]) -> None:
    (mongo,) = find(manifests, "MongoDBCommunity")
    url = urlsplit(secret_keys(manifests, "cercle-secrets")["MONGO_URL"])
    options = parse_qs(url.query)
    # mongoengine takes a database named in the URL over the one each service asks for.
    assert url.path in {"", "/"}
    assert options["replicaSet"] == [mongo["metadata"]["name"]]
    assert options["authSource"] == ["admin"]
    assert url.username in {u["name"] for u in mongo["spec"]["users"]}


def test_mongo_user_may_write_every_service_database(manifests: list[Manifest]) -> None:
    (mongo,) = find(manifests, "MongoDBCommunity")
    config = config_map(manifests, "cercle-config")
    settings = Settings.from_env({"mongo_db_prefix": config["MONGO_DB_PREFIX"]}, environ={})
    username = urlsplit(secret_keys(manifests, "cercle-secrets")["MONGO_URL"]).username
    (user,) = [u for u in mongo["spec"]["users"] if u["name"] == username]
    writable = {r["db"] for r in user["roles"] if r["name"] == "readWrite"}
    assert writable == {settings.database_name(s) for s in SERVICES}


def test_prod_runs_with_production_safeguards() -> None:
    from tests.deploy.kit import render

    assert config_map(render("prod"), "cercle-config")["CERCLE_ENV"] == "prod"


def _prod_environment(fill_in_secrets: bool) -> dict[str, str]:
    """What a prod pod receives: the ConfigMap, and the Secret as an admin creates it from
    secrets.example.env (its `<...>` placeholders filled in, or left as they are)."""
    from tests.deploy.kit import render

    secrets = parse_env_file(PROD_SECRETS_EXAMPLE)
    if fill_in_secrets:
        secrets = {
            key: token_hex(24) if value.startswith("<") and value.endswith(">") else value
            for key, value in secrets.items()
        }
    return {**config_map(render("prod"), "cercle-config"), **secrets}


def test_prod_kit_starts_once_the_example_secrets_are_filled_in() -> None:
    settings = Settings.from_env(environ=_prod_environment(fill_in_secrets=True))
    assert settings.is_production
    # The gateway checks RS256 tokens against the identity provider, never a dev secret.
    assert settings.jwt_jwks_url.startswith("https://") or settings.jwt_public_key
    assert settings.jwt_issuer != ENVIRONMENT["JWT_ISSUER"]
    assert settings.jwt_audience
    TokenVerifier.from_settings(settings)  # raises if the gateway could not start


def test_prod_kit_refuses_to_start_with_the_example_placeholders() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(environ=_prod_environment(fill_in_secrets=False))
    message = str(refused.value)
    for variable in ("ADMIN_TOKEN", "SERVICE_TOKEN", "BADGE_SALT"):
        assert f"{variable} is still the example's placeholder" in message


def test_every_api_and_the_gateway_receive_the_service_token_from_the_secret(
    manifests: list[Manifest],
) -> None:
    for workload in cercle_workloads(manifests):
        received = environment_of(manifests, workload.app)
        assert received["SERVICE_TOKEN"] == "secret:cercle-secrets", workload.name
