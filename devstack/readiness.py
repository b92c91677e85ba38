"""Is a server of the stack answering? One probe per protocol.

The probes speak each server's protocol with the project's own clients (kafka-python,
pymongo, redis), imported lazily from the project's virtual environment: a TCP connect
alone is not enough (Kafka accepts connections well before it serves metadata).
A probe never raises: it returns None when the server answers, else what went wrong,
and its caller retries until its deadline, then shows the last answer.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

PROBE_TIMEOUT = 3.0


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def bootstrap_addresses(bootstrap_servers: str) -> list[tuple[str, int]]:
    """`h1:9092,h2:9092` as (host, port) pairs."""
    addresses = []
    for item in bootstrap_servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit():
            addresses.append((host.strip("[]"), int(port)))
    return addresses


def kafka_options_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """kafka-python's security options from the variables the services read, for a broker
    given from outside (which may want SASL too)."""
    options = {"security_protocol": env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT"}
    if env.get("KAFKA_SASL_MECHANISM"):
        options.update(
            sasl_mechanism=env["KAFKA_SASL_MECHANISM"],
            sasl_plain_username=env.get("KAFKA_SASL_USERNAME", ""),
            sasl_plain_password=env.get("KAFKA_SASL_PASSWORD", ""),
        )
    return options


def check_kafka(bootstrap_servers: str, options: Mapping[str, str] | None = None) -> str | None:
    """None when a broker answers a metadata request and lists a broker, else why not.
    `options` are kafka-python's (the SASL credentials of the local broker)."""
    addresses = bootstrap_addresses(bootstrap_servers)
    if not any(tcp_open(host, port) for host, port in addresses):
        return f"nothing accepts connections on {bootstrap_servers}"
    # kafka-python logs every refused connection; a probe that is retried must stay quiet.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="devstack-readiness",
            request_timeout_ms=int(PROBE_TIMEOUT * 1000),
            **(options or {}),
        )
        try:
            cluster = admin.describe_cluster()
        finally:
            admin.close()
    except Exception as error:
        return f"kafka-python: {error!r}"
    return None if cluster.get("brokers") else "the cluster lists no broker yet"


def check_mongo(url: str) -> str | None:
    """None when the MongoDB wire-protocol server answers `ping`, else why not."""
    parts = urlsplit(url)
    if parts.hostname and parts.port and not tcp_open(parts.hostname, parts.port):
        return f"nothing accepts connections on {parts.hostname}:{parts.port}"
    try:
        from pymongo import MongoClient

        client: MongoClient[dict[str, object]] = MongoClient(
            url,
            serverSelectionTimeoutMS=int(PROBE_TIMEOUT * 1000),
            connectTimeoutMS=int(PROBE_TIMEOUT * 1000),
        )
        try:
            client.admin.command("ping")
        finally:
            client.close()
    except Exception as error:
        return f"pymongo: {error!r}"
    return None


def check_redis(url: str) -> str | None:
    """None when Redis answers PING, else why not."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:
        return f"redis: {error!r}"
    return None
