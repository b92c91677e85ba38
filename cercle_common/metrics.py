"""Prometheus metrics every process exposes on `/metrics`. Defined once so every
service reports throughput, errors, consumer lag and dead letters under the same names."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

CONSUMED = Counter(
    "cercle_messages_processed_total", "Kafka messages applied by a consumer", ["group"]
)
DEAD_LETTERS = Counter(
    "cercle_dead_letters_total", "Messages sent to the dead-letter topic", ["group", "topic"]
)
CONSUMER_RETRIES = Counter(
    "cercle_consumer_retries_total", "Batches retried because a dependency was down", ["group"]
)
CONSUMER_LAG = Gauge(
    "cercle_consumer_lag",
    "Messages behind the partition's high watermark",
    ["group", "topic", "partition"],
    multiprocess_mode="max",
)
HTTP_REQUESTS = Counter(
    "cercle_http_requests_total", "HTTP requests answered", ["service", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "cercle_http_request_seconds", "HTTP request duration", ["service", "method"]
)


def render() -> tuple[bytes, str]:
    """The metrics text and its content type. Under gunicorn with several workers, set
    PROMETHEUS_MULTIPROC_DIR so every worker's figures are summed into one answer."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
