"""The one list of Kafka topics. The local stack, the tests and the Kubernetes kit all use
it; `python -m cercle_common.topics create` creates them idempotently."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cercle_common.settings import Settings

# Each internal tool publishes on its own inbound topic, the only one its Kafka principal may
# write (cercle_common.kafka_access): the topic, not the payload, says which tool speaks.
INBOUND_TOOLS = ("lms", "survey-tool", "social-tracker", "directory")
INBOUND_PREFIX = "cercle.inbound."
EVENTS = "cercle.events.v1"
EMPLOYEES = "cercle.employees.v1"
POINTS = "cercle.points.v1"
BADGES = "cercle.badges.v1"
DEADLETTER = "cercle.deadletter.v1"

WEEK_MS = 7 * 24 * 3600 * 1000


def inbound_topic(tool: str) -> str:
    """The inbound topic of one tool, e.g. `cercle.inbound.lms.v1`."""
    return f"{INBOUND_PREFIX}{tool}.v1"


INBOUND_TOPICS: dict[str, str] = {tool: inbound_topic(tool) for tool in INBOUND_TOOLS}
TOOL_OF_INBOUND_TOPIC: dict[str, str] = {topic: tool for tool, topic in INBOUND_TOPICS.items()}


@dataclass(frozen=True)
class Topic:
    """A topic and the settings it is created with."""

    name: str
    partitions: int
    compacted: bool = False
    # -1 keeps messages forever: the event log is the source every score is replayed from.
    retention_ms: int = -1

    def config(self) -> dict[str, str]:
        """Topic-level configuration, as given to the broker."""
        if self.compacted:
            return {"cleanup.policy": "compact"}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


TOPICS: tuple[Topic, ...] = (
    *(Topic(topic, partitions=6, retention_ms=4 * WEEK_MS) for topic in INBOUND_TOPICS.values()),
    Topic(EVENTS, partitions=6),
    Topic(EMPLOYEES, partitions=6, compacted=True),
    Topic(POINTS, partitions=6, retention_ms=4 * WEEK_MS),
    Topic(BADGES, partitions=6, retention_ms=4 * WEEK_MS),
    Topic(DEADLETTER, partitions=3, retention_ms=4 * WEEK_MS),
)


def create_topics(settings: Settings, topics: tuple[Topic, ...] = TOPICS) -> list[str]:
    """Create the topics that do not exist yet; returns the names it created."""
    from kafka.admin import KafkaAdminClient, NewTopic

    from cercle_common.messaging import client_options

    admin = KafkaAdminClient(**client_options(settings), client_id="cercle-topics")
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in topics if topic.name not in existing]
        if missing:
            admin.create_topics(
                [
                    NewTopic(topic.name, topic.partitions, 1, topic_configs=topic.config())
                    for topic in missing
                ]
            )
        return [topic.name for topic in missing]
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    """Command line: `create` the topics, or `list` them as `name partitions policy`."""
    from cercle_common.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m cercle_common.topics")
    parser.add_argument("command", choices=["create", "list"])
    args = parser.parse_args(argv)
    if args.command == "list":
        for topic in TOPICS:
            print(topic.name, topic.partitions, topic.config()["cleanup.policy"])
        return 0
    settings = Settings.from_env()
    created = create_topics(settings)
    print(f"topics: {len(created)} created, {len(TOPICS) - len(created)} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
