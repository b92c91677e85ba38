"""The Kafka adapter that announces awards and revocations on `cercle.badges.v1`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from cercle_common.errors import InfrastructureError


class KafkaBadgePublisher:
    """`BadgePublisher` over a Kafka producer made on first use (nothing connects at
    import or app creation)."""

    def __init__(self, make_producer: Callable[[], Any], topic: str) -> None:
        self._make_producer = make_producer
        self._producer: Any = None
        self._topic = topic

    def publish(self, messages: Sequence[dict[str, Any]]) -> None:
        """Send every message keyed by employee id, then flush."""
        if not messages:
            return
        from kafka.errors import KafkaError

        try:
            if self._producer is None:
                self._producer = self._make_producer()
            futures = [
                self._producer.send(
                    self._topic,
                    key=message["employee_id"].encode(),
                    value=json.dumps(message, separators=(",", ":"), sort_keys=True).encode(),
                )
                for message in messages
            ]
            self._producer.flush(timeout=30)
            for future in futures:
                future.get(timeout=30)
        except KafkaError as error:
            raise InfrastructureError(f"Kafka unavailable: {error}") from error

    def close(self) -> None:
        """Release the producer."""
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None
