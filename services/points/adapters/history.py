"""The event history a rescore replays, read back from Kafka: `cercle.events.v1` (retention
infinite: it is the log every score is replayed from) and the compacted
`cercle.employees.v1`, each from offset 0 (or given offsets) up to the end offsets seen
when the reading starts."""

from __future__ import annotations

from collections.abc import Iterator

from kafka import KafkaConsumer, TopicPartition

from cercle_common.messaging import Record, client_options
from cercle_common.settings import Settings

StartOffsets = dict[TopicPartition, int]


def read_topic(
    settings: Settings, topic: str, start_offsets: StartOffsets | None = None
) -> Iterator[Record]:
    """Every record of `topic` from `start_offsets` (default: offset 0) up to the end
    offsets at the time of the first read, partition by partition. Nothing connects
    before the first record is asked for."""
    consumer = KafkaConsumer(**client_options(settings), enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, number)
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        for partition in partitions:
            start = (start_offsets or {}).get(partition)
            if start is None:
                consumer.seek_to_beginning(partition)
            else:
                consumer.seek(partition, start)
        remaining = {p for p in partitions if consumer.position(p) < ends[p]}
        while remaining:
            for partition, messages in consumer.poll(timeout_ms=1000, max_records=5000).items():
                for message in messages:
                    if message.offset < ends[partition]:
                        yield Record.from_message(message)
            remaining = {p for p in remaining if consumer.position(p) < ends[p]}
    finally:
        consumer.close(autocommit=False)
