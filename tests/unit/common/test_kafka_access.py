"""The table of Kafka principals: each tool writes its own inbound topic and nothing else,
each service reads what it consumes and writes what it produces."""

from __future__ import annotations

from cercle_common.kafka_access import ACCESS, PREFIX, TOOL_ACCESS, tool_principal
from cercle_common.topics import INBOUND_PREFIX, INBOUND_TOPICS, TOPICS
from devstack.services import SERVICES


def _topics(principal: str, operation: str) -> set[tuple[str, str]]:
    return {
        (grant.name, grant.pattern)
        for grant in ACCESS[principal]
        if grant.resource == "topic" and operation in grant.operations
    }


def test_a_tool_may_write_its_own_inbound_topic_only() -> None:
    assert set(TOOL_ACCESS) == {tool_principal(tool) for tool in INBOUND_TOPICS}
    for tool, topic in INBOUND_TOPICS.items():
        grants = ACCESS[tool_principal(tool)]
        assert [(g.resource, g.name, g.operations) for g in grants] == [
            ("topic", topic, ("Describe", "Write"))
        ]


def test_the_events_service_reads_every_inbound_topic_and_writes_none() -> None:
    assert _topics("cercle-events", "Read") == {(INBOUND_PREFIX, PREFIX)}
    assert all(topic.startswith(INBOUND_PREFIX) for topic in INBOUND_TOPICS.values())
    written = {name for name, _ in _topics("cercle-events", "Write")}
    assert not written & set(INBOUND_TOPICS.values())


def test_every_granted_topic_is_in_the_topic_list() -> None:
    names = {topic.name for topic in TOPICS}
    for principal in ACCESS:
        for grant in ACCESS[principal]:
            if grant.resource == "topic" and grant.pattern != PREFIX:
                assert grant.name in names, (principal, grant.name)


def test_every_process_of_run_that_talks_to_kafka_has_a_principal_of_the_table() -> None:
    principals = {service.kafka_principal for service in SERVICES if service.consumer}
    assert principals == {"cercle-events", "cercle-points", "cercle-badges"}
    assert principals <= set(ACCESS)
