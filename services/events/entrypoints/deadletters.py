"""`python -m services.events.entrypoints.deadletters list | resubmit PARTITION:OFFSET...`

`list` prints the dead letters of the inbound consumer (partition:offset, reason, the
start of the original bytes). `resubmit` publishes the chosen dead letters' original
bytes and key, unchanged, back to the inbound topic they came from (so they speak for the
same tool) once the cause is fixed (a missing employee created, say); the inbound consumer
judges them again. It writes to a tool's topic, so it runs as the Kafka super user."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from kafka import KafkaConsumer, TopicPartition

from cercle_common.messaging import client_options, make_producer
from cercle_common.settings import Settings
from cercle_common.topics import DEADLETTER, TOOL_OF_INBOUND_TOPIC
from services.events.entrypoints.consumer import GROUP


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def position(self) -> str:
        """`partition:offset`, how the command names it."""
        return f"{self.partition}:{self.offset}"


def read_dead_letters(settings: Settings, group: str = GROUP) -> Iterator[DeadLetter]:
    """Every dead letter the given consumer group refused, oldest first per partition."""
    consumer = KafkaConsumer(
        **client_options(settings), enable_auto_commit=False, consumer_timeout_ms=2000
    )
    try:
        partitions = [
            TopicPartition(DEADLETTER, p) for p in consumer.partitions_for_topic(DEADLETTER) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        while remaining:
            polled = consumer.poll(timeout_ms=2000, max_records=1000)
            if not polled:
                break
            for tp, messages in polled.items():
                for message in messages:
                    headers = {k: v.decode("utf-8", "replace") for k, v in message.headers or ()}
                    if headers.get("cercle.consumer_group") == group:
                        yield DeadLetter(
                            message.partition, message.offset, message.key, message.value, headers
                        )
                    if message.offset + 1 >= remaining.get(tp, 0):
                        remaining.pop(tp, None)
    finally:
        consumer.close()


def list_dead_letters(letters: Iterator[DeadLetter], out: TextIO) -> int:
    """Print one line per dead letter; returns the count."""
    count = 0
    for letter in letters:
        preview = (letter.value or b"").decode("utf-8", "replace")[:80].replace("\n", " ")
        reason = letter.headers.get("cercle.reason", "")
        print(f"{letter.position}\t{reason}\t{preview}", file=out)
        count += 1
    return count


def resubmit(settings: Settings, letters: list[DeadLetter]) -> int:
    """Publish the original bytes of each letter to the inbound topic it was refused
    from; returns the count."""
    producer = make_producer(settings)
    try:
        for letter in letters:
            topic = letter.headers["cercle.source_topic"]
            producer.send(topic, key=letter.key, value=letter.value)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)
    return len(letters)


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m services.events.entrypoints.deadletters",
        description="List the inbound consumer's dead letters, or re-submit chosen ones.",
    )
    parser.add_argument("--group", default=GROUP, help="the consumer group that refused them")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="print partition:offset, reason and the start of each")
    chosen = commands.add_parser(
        "resubmit", help="publish the original bytes back to the topic they came from"
    )
    chosen.add_argument("positions", nargs="+", metavar="PARTITION:OFFSET")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "list":
        count = list_dead_letters(read_dead_letters(settings, args.group), out)
        print(f"{count} dead letters", file=out)
        return 0
    wanted = set(args.positions)
    found = read_dead_letters(settings, args.group)
    letters = [letter for letter in found if letter.position in wanted]
    missing = wanted - {letter.position for letter in letters}
    for position in sorted(missing):
        print(f"{position}: no dead letter of group {args.group} there", file=out)
    strays = [
        letter
        for letter in letters
        if letter.headers.get("cercle.source_topic") not in TOOL_OF_INBOUND_TOPIC
    ]
    for letter in strays:
        print(f"{letter.position}: it came from no inbound topic", file=out)
    letters = [letter for letter in letters if letter not in strays]
    print(f"{resubmit(settings, letters)} re-submitted", file=out)
    return 1 if missing or strays else 0


if __name__ == "__main__":
    sys.exit(main())
