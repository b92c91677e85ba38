"""The local broker authenticates every client (SASL/SCRAM) and authorizes it by ACL: each
internal tool may write its own inbound topic only, refused by the broker itself on
another's; rotating one tool's password leaves every other principal as it was."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAuthorizationFailedError

from cercle_common.kafka_access import ACCESS, apply_access, tool_principal
from cercle_common.messaging import client_options, make_producer
from cercle_common.settings import Settings
from cercle_common.topics import EVENTS, INBOUND_TOPICS
from devstack.config import dev_kafka_password

LMS = tool_principal("lms")
SURVEY_TOOL = tool_principal("survey-tool")


def as_principal(settings: Settings, principal: str, password: str | None = None) -> Settings:
    return dataclasses.replace(
        settings,
        kafka_sasl_username=principal,
        kafka_sasl_password=password or dev_kafka_password(principal),
    )


def publish(settings: Settings, topic: str) -> None:
    """One message, waiting for the broker's answer (raises what the broker refused)."""
    producer = make_producer(settings, retries=0, max_block_ms=10_000)
    try:
        producer.send(topic, key=b"e-1", value=b'{"probe": true}').get(timeout=15)
    finally:
        producer.close(timeout=5)


def test_a_tool_writes_its_own_topic_and_the_broker_refuses_it_another_tools(
    settings: Settings,
) -> None:
    lms = as_principal(settings, LMS)
    publish(lms, INBOUND_TOPICS["lms"])
    for topic in (INBOUND_TOPICS["survey-tool"], INBOUND_TOPICS["directory"], EVENTS):
        with pytest.raises(TopicAuthorizationFailedError):
            publish(lms, topic)


def test_a_service_cannot_write_a_tools_topic_either(settings: Settings) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        publish(as_principal(settings, "cercle-points"), INBOUND_TOPICS["lms"])


KCAT = Path(__file__).resolve().parents[3] / "bin" / "kcat"


def kcat_publish(settings: Settings, principal: str, password: str, topic: str) -> str:
    """Publish one message with kcat as the documentation shows; returns "" when it was
    delivered, else what kcat printed."""
    done = subprocess.run(
        [
            str(KCAT), "-b", settings.kafka_bootstrap_servers, "-P", "-t", topic, "-k", "e-1",
            "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
            "-X", f"sasl.username={principal}", "-X", f"sasl.password={password}",
        ],
        input=b'{"probe": true}\n',
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return "" if done.returncode == 0 else done.stderr.decode(errors="replace")


def test_kcat_publishes_with_a_tools_credentials_and_is_refused_a_wrong_password(
    settings: Settings,
) -> None:
    password = dev_kafka_password(LMS)
    assert kcat_publish(settings, LMS, password, INBOUND_TOPICS["lms"]) == ""
    refused = kcat_publish(settings, LMS, password, INBOUND_TOPICS["survey-tool"])
    assert "Topic authorization failed" in refused
    wrong = kcat_publish(settings, LMS, "not-its-password", INBOUND_TOPICS["lms"])
    assert "Authentication failed" in wrong


@pytest.fixture
def admin(settings: Settings) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(**client_options(settings))
    yield client
    # Whatever happened, every principal gets its development password back.
    apply_access(client, {name: dev_kafka_password(name) for name in ACCESS})
    client.close()


def test_rotating_one_tools_password_leaves_the_others_untouched(
    settings: Settings, admin: KafkaAdminClient
) -> None:
    passwords = {name: dev_kafka_password(name) for name in ACCESS}
    changes = apply_access(admin, {**passwords, LMS: "rotated-lms-password"})
    assert changes == {"created": 0, "removed": 0}  # the ACLs were already exactly these

    lms_topic = INBOUND_TOPICS["lms"]
    assert kcat_publish(settings, LMS, "rotated-lms-password", lms_topic) == ""
    old = kcat_publish(settings, LMS, dev_kafka_password(LMS), lms_topic)
    assert "Authentication failed" in old
    survey = dev_kafka_password(SURVEY_TOOL)
    assert kcat_publish(settings, SURVEY_TOOL, survey, INBOUND_TOPICS["survey-tool"]) == ""
