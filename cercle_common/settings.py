"""One frozen settings object, built from environment variables with local defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# Every environment variable the settings read, with its local default. The Kubernetes
# kit is checked against this table, so it is the one place to add a variable.
ENVIRONMENT: dict[str, str] = {
    "CERCLE_ENV": "dev",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "",
    "KAFKA_SASL_USERNAME": "",
    "KAFKA_SASL_PASSWORD": "",
    "MONGO_URL": "mongodb://127.0.0.1:27017/",
    "MONGO_DB_PREFIX": "",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ORG_TIMEZONE": "Europe/Paris",
    "PUBLIC_BASE_URL": "http://127.0.0.1:8103",
    "ENPS_MIN_GROUP": "5",
    "EVENTS_URL": "http://127.0.0.1:8101",
    "POINTS_URL": "http://127.0.0.1:8102",
    "BADGES_URL": "http://127.0.0.1:8103",
    "HEALTH_PORT": "9100",
    "LOG_LEVEL": "INFO",
    "JWT_SECRET": "cercle-dev-secret-change-me-0123456789",
    "JWT_PUBLIC_KEY": "",
    "JWT_JWKS_URL": "",
    "JWT_ISSUER": "cercle",
    "JWT_AUDIENCE": "cercle-api",
    "ADMIN_TOKEN": "cercle-dev-admin-token",
    # What the gateway and internal tools present to the services' HTTP APIs.
    "SERVICE_TOKEN": "cercle-dev-service-token",
    "BADGE_SALT": "cercle-dev-salt",
    # Requests per minute one caller may make to the gateway, counted across replicas.
    "GATEWAY_RATE_LIMIT": "600",
}


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of a Cercle process. Build it with `Settings.from_env()`;
    tests pass overrides instead of patching globals."""

    env: str
    kafka_bootstrap_servers: str
    kafka_security_protocol: str
    kafka_sasl_mechanism: str
    kafka_sasl_username: str
    kafka_sasl_password: str
    mongo_url: str
    mongo_db_prefix: str
    redis_url: str
    org_timezone: str
    public_base_url: str
    enps_min_group: int
    events_url: str
    points_url: str
    badges_url: str
    health_port: int
    log_level: str
    jwt_secret: str
    jwt_public_key: str
    jwt_jwks_url: str
    jwt_issuer: str
    jwt_audience: str
    admin_token: str
    service_token: str
    badge_salt: str
    gateway_rate_limit: int

    @property
    def is_production(self) -> bool:
        """True when running with production safeguards (no dev tokens, no GraphiQL)."""
        return self.env == "prod"

    def database_name(self, service: str) -> str:
        """The MongoDB database a service owns, e.g. `cercle_points`."""
        return f"{self.mongo_db_prefix}cercle_{service}"

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Read every variable of `ENVIRONMENT` (falling back to its default), then apply
        `overrides`, given by field name (`mongo_url=...`)."""
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for variable, default in ENVIRONMENT.items():
            name = _field_name(variable)
            values[name] = source.get(variable, default)
        values.update(overrides or {})
        for field in fields(cls):
            if field.type == "int":
                values[field.name] = int(values[field.name])
        return cls(**values)


def _field_name(variable: str) -> str:
    name = variable.lower()
    return "env" if name == "cercle_env" else name
