"""Publishes ledger entries on `cercle.points.v1` with kafka-python (key: the employee id;
value: the entry as JSON). The badges service and others read them and deduplicate on
the entry's `id`, so an entry published again by a retried batch changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence

from kafka import KafkaProducer

from cercle_common.errors import InfrastructureError
from cercle_common.topics import POINTS
from services.points.domain.model import LedgerEntry
from services.points.ports import EntryPublisher


class PointsPublisher(EntryPublisher):
    """Publishes ledger entries on `cercle.points.v1` (key = employee id)."""

    def __init__(self, producer: KafkaProducer) -> None:
        self._producer = producer

    def publish(self, entries: Sequence[LedgerEntry]) -> None:
        """Send and wait for every acknowledgement."""
        if not entries:
            return
        futures = [
            self._producer.send(
                POINTS,
                key=entry.employee_id.encode(),
                value=json.dumps(entry.to_dict(), separators=(",", ":")).encode(),
            )
            for entry in entries
        ]
        self._producer.flush(timeout=30)
        # flush() waits but does not raise for a message the broker refused.
        failed = [future for future in futures if future.failed()]
        if failed:
            raise InfrastructureError(
                f"{len(failed)} points messages not published: {failed[0].exception}"
            ) from failed[0].exception

    def close(self) -> None:
        """Flush and close the producer."""
        self._producer.close(timeout=10)
