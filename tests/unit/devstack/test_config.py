"""The local stack's configuration and the demo organisation: pure, no process started."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.config import (
    ConfigError,
    load_config,
    read_server_properties_template,
    render_env_file,
    render_server_properties,
)
from devstack.demo import (
    BATCH_SIZE,
    NETWORKS,
    SOURCE_OF_TYPE,
    TEAMS,
    Employee,
    Envelope,
    batches,
    build_directory,
    build_events,
)
from devstack.services import SERVICES, resolve_argv, service_env
from services.events.domain.directory import RECORD_FIELDS

ROOT = Path("/srv/cercle")
END = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


# -- ports and addresses ---------------------------------------------------------------------


def test_dev_and_test_instances_have_their_own_default_ports() -> None:
    dev, test = load_config("dev", {}, ROOT), load_config("test", {}, ROOT)

    assert (dev.ports.kafka, dev.ports.kafka_controller, dev.ports.mongo) == (9092, 9093, 27017)
    assert (dev.ports.ferretdb_debug, dev.ports.redis) == (8088, 6379)
    assert (test.ports.kafka, test.ports.kafka_controller, test.ports.mongo) == (
        19092,
        19093,
        27117,
    )
    assert (test.ports.ferretdb_debug, test.ports.redis) == (18088, 16379)
    assert test.stack_dir == ROOT / ".stack" / "test"


def test_every_port_can_be_moved_by_an_environment_variable() -> None:
    config = load_config(
        "test",
        {
            "CERCLE_KAFKA_PORT": "29092",
            "CERCLE_KAFKA_CONTROLLER_PORT": "29093",
            "CERCLE_MONGO_PORT": "29017",
            "CERCLE_FERRETDB_DEBUG_PORT": "29088",
            "CERCLE_REDIS_PORT": "29379",
        },
        ROOT,
    )

    assert config.service_env() == {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:29092",
        "MONGO_URL": "mongodb://127.0.0.1:29017/",
        "REDIS_URL": "redis://127.0.0.1:29379/0",
        # Tests and tools talk to the local broker as its super user.
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "admin",
        "KAFKA_SASL_PASSWORD": "cercle-dev-kafka-admin",
    }
    assert config.ports.kafka_controller == 29093
    assert "--debug-addr=127.0.0.1:29088" in config.server("ferretdb").argv


@pytest.mark.parametrize("value", ["http", "0", "70000", "-1"])
def test_a_port_that_is_not_a_port_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="CERCLE_REDIS_PORT"):
        load_config("dev", {"CERCLE_REDIS_PORT": value}, ROOT)


def test_two_servers_on_one_port_are_refused() -> None:
    with pytest.raises(ConfigError, match="share a port"):
        load_config("test", {"CERCLE_REDIS_PORT": "19093"}, ROOT)


def test_an_unknown_instance_is_refused() -> None:
    with pytest.raises(ConfigError, match="staging"):
        load_config("staging", {}, ROOT)


def test_addresses_given_in_the_environment_replace_the_servers() -> None:
    config = load_config(
        "dev",
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:39092",
            "MONGO_URL": "mongodb://127.0.0.1:37017/?directConnection=true",
        },
        ROOT,
    )

    assert config.managed_servers() == ("redis",)
    assert config.kafka_bootstrap == "127.0.0.1:39092"
    assert config.mongo_url == "mongodb://127.0.0.1:37017/?directConnection=true"


def test_a_shell_that_sourced_the_instance_env_still_starts_its_servers() -> None:
    sourced = load_config("dev", {}, ROOT).service_env()

    config = load_config("dev", sourced, ROOT)

    assert config.managed_servers() == ("kafka", "ferretdb", "redis")


def test_env_file_is_shell_sourceable() -> None:
    config = load_config("test", {"MONGO_URL": "mongodb://u:p@127.0.0.1:1/?a=1&b=2"}, ROOT)

    lines = render_env_file(config).splitlines()

    assert lines[0] == "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092"
    assert lines[2] == "REDIS_URL=redis://127.0.0.1:16379/0"
    name, value = lines[1].split("=", 1)
    assert (name, shlex.split(value)) == ("MONGO_URL", ["mongodb://u:p@127.0.0.1:1/?a=1&b=2"])


def test_cache_folder_can_be_moved() -> None:
    config = load_config("dev", {"CERCLE_CACHE_DIR": "/tmp/cercle-cache"}, ROOT)

    assert config.kafka_libs_dir == Path("/tmp/cercle-cache/kafka/libs")
    assert config.ferretdb_binary == Path("/tmp/cercle-cache/bin/ferretdb")


# -- server configuration --------------------------------------------------------------------


def test_server_properties_run_one_kraft_node_on_loopback() -> None:
    config = load_config("test", {"CERCLE_KAFKA_PORT": "29092"}, ROOT)

    rendered = properties(render_server_properties(config, read_server_properties_template()))

    assert rendered["process.roles"] == "broker,controller"
    assert rendered["node.id"] == "1"
    assert rendered["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert rendered["listeners"] == (
        "SASL_PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:19093"
    )
    assert rendered["advertised.listeners"] == "SASL_PLAINTEXT://127.0.0.1:29092"
    assert rendered["controller.listener.names"] == "CONTROLLER"
    # Every client authenticates and is authorized by ACL, as in production.
    assert rendered["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert rendered["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert rendered["allow.everyone.if.no.acl.found"] == "false"
    assert rendered["super.users"] == "User:admin;User:controller"
    assert (
        'password="cercle-dev-kafka-admin"'
        in rendered["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"]
    )
    assert rendered["log.dirs"] == str(ROOT / ".stack" / "test" / "data" / "kafka")
    assert rendered["auto.create.topics.enable"] == "false"
    assert rendered["offsets.topic.replication.factor"] == "1"
    assert rendered["transaction.state.log.min.isr"] == "1"
    assert rendered["group.initial.rebalance.delay.ms"] == "0"


def test_server_commands_use_the_instance_folders_and_loopback() -> None:
    config = load_config("test", {}, ROOT)

    kafka, ferretdb, redis = (config.server(name) for name in ("kafka", "ferretdb", "redis"))

    assert kafka.argv[-2:] == ("kafka.Kafka", str(config.server_properties_file))
    assert f"-Dcercle.kafka.log.file={config.logs_dir / 'kafka.log'}" in kafka.argv
    assert "--listen-addr=127.0.0.1:27117" in ferretdb.argv
    assert "--telemetry=disable" in ferretdb.argv
    assert f"--state-dir={config.data_dir / 'ferretdb'}" in ferretdb.argv
    assert redis.argv[-4:] == ("--port", "16379", "--dir", str(config.data_dir / "redis"))
    assert redis.pid_file == config.pids_dir / "redis.pid"


def test_kafka_format_command_names_the_cluster_and_the_rendered_config() -> None:
    config = load_config("dev", {}, ROOT)

    argv = config.kafka_format_argv("q1Sh-9_ISia_zwGINzRvyQ")

    assert argv[argv.index("-t") + 1] == "q1Sh-9_ISia_zwGINzRvyQ"
    assert argv[argv.index("-c") + 1] == str(config.server_properties_file)


# -- the processes of `run` ------------------------------------------------------------------


def test_run_starts_each_service_once_on_its_own_port() -> None:
    names = [service.name for service in SERVICES]
    ports = [service.port for service in SERVICES]

    assert len(set(names)) == len(names) == 8
    assert len(set(ports)) == len(ports)
    assert {s.name for s in SERVICES if s.consumer} == {
        "events-relay",
        "events-inbound",
        "points-consumer",
        "badges-consumer",
    }


def test_service_commands_use_the_virtual_environment(tmp_path: Path) -> None:
    gateway = next(s for s in SERVICES if s.name == "gateway")

    argv = resolve_argv(gateway.argv, tmp_path)

    assert argv[0] == str(tmp_path / "gunicorn")
    assert argv[-1] == "gateway.app:create_app()"
    assert "127.0.0.1:8100" in argv


def test_services_point_at_the_stack_and_at_each_other() -> None:
    env = service_env(load_config("dev", {}, ROOT))

    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert env["POINTS_URL"] == "http://127.0.0.1:8102"
    assert env["CERCLE_ENV"] == "dev"


def test_each_service_process_is_its_own_kafka_principal_never_the_super_user() -> None:
    config = load_config("dev", {}, ROOT)
    relay = config.kafka_credentials("cercle-events")
    assert relay["KAFKA_SASL_USERNAME"] == "cercle-events"
    assert relay["KAFKA_SASL_PASSWORD"] == "cercle-dev-kafka-cercle-events"
    # An API never talks to Kafka: it gets no credential at all.
    assert config.kafka_credentials(None)["KAFKA_SASL_PASSWORD"] == ""
    # A broker given from outside keeps the environment's credentials.
    outside = load_config("dev", {"KAFKA_BOOTSTRAP_SERVERS": "kafka.example:9093"}, ROOT)
    assert outside.kafka_credentials("cercle-events") == {}


# -- the demo organisation -------------------------------------------------------------------


@pytest.fixture(scope="module")
def directory() -> list[Employee]:
    return build_directory()


@pytest.fixture(scope="module")
def events(directory: list[Employee]) -> list[Envelope]:
    return build_events(directory, END)


def test_directory_is_about_300_people_in_12_teams_across_4_sites(
    directory: list[Employee],
) -> None:
    assert len(directory) == 300
    assert len({e.id for e in directory}) == 300
    assert len({e.email for e in directory}) == 300
    assert {e.team for e in directory} == set(TEAMS)
    assert len({e.site for e in directory}) == 4
    visibility = Counter(e.visibility for e in directory)
    assert visibility["visible"] > 200 and visibility["pseudonym"] > 0 and visibility["hidden"] > 0
    assert all((e.pseudonym is not None) == (e.visibility == "pseudonym") for e in directory)


def test_directory_entries_have_the_shape_the_events_service_takes(
    directory: list[Employee],
) -> None:
    entry = directory[0].directory_entry()

    # Exactly the fields the events service's directory accepts.
    assert set(entry) == set(RECORD_FIELDS)
    assert entry["email"].isascii()


def test_same_seed_gives_the_same_organisation(events: list[Envelope]) -> None:
    assert build_events(build_directory(), END) == events
    assert build_events(build_directory(seed=7), END) != events


def test_event_ids_do_not_depend_on_the_day_the_demo_is_loaded(events: list[Envelope]) -> None:
    later = build_events(build_directory(), END + timedelta(days=3, hours=5))

    def story(items: list[Envelope]) -> dict[str, object]:
        return {e["id"]: (e["type"], e["employee_id"], e["data"]) for e in items}

    assert story(later) == story(events)


def test_event_ids_are_unique_ulids(events: list[Envelope]) -> None:
    ids = [event["id"] for event in events]

    assert len(set(ids)) == len(ids)
    assert all(ULID.match(event_id) for event_id in ids)


def test_no_event_is_in_the_future_nor_older_than_six_weeks(events: list[Envelope]) -> None:
    instants = [datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")) for e in events]

    assert max(instants) <= END
    assert min(instants) >= END - timedelta(days=42)
    assert all(e["occurred_at"].endswith("Z") for e in events)
    assert instants == sorted(instants)


def test_activity_is_heavy_tailed(events: list[Envelope]) -> None:
    shares = Counter(e["employee_id"] for e in events if e["type"] == "content.shared")
    counts = sorted(shares.values(), reverse=True)
    median = counts[len(counts) // 2]

    assert counts[0] >= 8 * median
    top_tenth = sum(counts[: len(counts) // 10])
    assert top_tenth > 0.3 * sum(counts)


def test_events_have_valid_envelopes_and_data(events: list, directory: list[Employee]) -> None:
    known = {e.id for e in directory if e.active}
    shares = {e["id"]: e for e in events if e["type"] == "content.shared"}
    required = {
        "content.shared": {"content_id", "network", "url", "tags"},
        "share.engaged": {"share_event_id", "clicks", "reactions", "comments", "reshares"},
        "course.completed": {"course_id", "track", "score", "duration_minutes"},
        "charter.acknowledged": {"charter_id", "version"},
        "survey.answered": {"survey_id", "question_id", "kind", "value"},
    }

    assert set(Counter(e["type"] for e in events)) == set(required)
    for event in events:
        assert event["schema_version"] == 1 and event["source"] == SOURCE_OF_TYPE[event["type"]]
        assert event["employee_id"] in known
        assert set(event["data"]) == required[event["type"]]
        data = event["data"]
        if event["type"] == "content.shared":
            assert data["network"] in NETWORKS and data["url"].startswith("https://")
        elif event["type"] == "share.engaged":
            share = shares[data["share_event_id"]]
            assert share["employee_id"] == event["employee_id"]
            assert share["occurred_at"] <= event["occurred_at"]
        elif event["type"] == "course.completed":
            assert 0 <= data["score"] <= 100 and data["duration_minutes"] > 0
        elif event["type"] == "survey.answered":
            assert data["kind"] == "enps" and 0 <= data["value"] <= 10


def test_each_employee_answers_a_survey_and_completes_a_course_at_most_once(
    events: list[Envelope],
) -> None:
    answers = Counter(
        (e["employee_id"], e["data"]["survey_id"]) for e in events if e["type"] == "survey.answered"
    )
    courses = Counter(
        (e["employee_id"], e["data"]["course_id"])
        for e in events
        if e["type"] == "course.completed"
    )

    assert max(answers.values()) == 1
    assert max(courses.values()) == 1


def test_batches_hold_at_most_500_events_and_lose_none(events: list[Envelope]) -> None:
    sent = list(batches(events))

    assert all(len(batch) <= BATCH_SIZE for batch in sent)
    assert [e for batch in sent for e in batch] == events
