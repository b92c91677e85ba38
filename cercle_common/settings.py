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
    # Oldest occurred_at accepted, in days: back-dated events would dodge period caps.
    "EVENT_MAX_AGE_DAYS": "30",
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
    # What the gateway presents to the services' HTTP APIs (and they to each other).
    "SERVICE_TOKEN": "cercle-dev-service-token",
    # Each internal tool's own token for the events door: the token says which source
    # speaks. Empty, or the development value in production: that tool has no HTTP
    # access (it may still publish on Kafka).
    "LMS_TOKEN": "cercle-dev-lms-token",
    "SURVEY_TOOL_TOKEN": "cercle-dev-survey-tool-token",
    "SOCIAL_TRACKER_TOKEN": "cercle-dev-social-tracker-token",
    "DIRECTORY_TOKEN": "cercle-dev-directory-token",
    "BADGE_SALT": "cercle-dev-salt",
    # Requests per minute one caller may make to the gateway, counted across replicas.
    "GATEWAY_RATE_LIMIT": "600",
    # Most work one GraphQL operation may cost (estimated milliseconds), before it runs.
    "GATEWAY_MAX_COST": "1000",
    # Requests one caller may have in flight in each gateway process; the next gets 429.
    "GATEWAY_MAX_IN_FLIGHT": "4",
    # Browser origins allowed to call the gateway (comma separated); empty: no CORS headers.
    "GATEWAY_CORS_ORIGINS": "",
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
    event_max_age_days: int
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
    lms_token: str
    survey_tool_token: str
    social_tracker_token: str
    directory_token: str
    badge_salt: str
    gateway_rate_limit: int
    gateway_max_cost: int
    gateway_max_in_flight: int
    gateway_cors_origins: str

    def __post_init__(self) -> None:
        problems = configuration_problems(self)
        if problems:
            raise ConfigurationError(
                f"refusing to start with CERCLE_ENV={self.env}: " + "; ".join(problems)
            )

    def __repr__(self) -> str:
        # The generated repr would print every secret into a log line or a traceback.
        shown = (f"{f.name}={_shown(f.name, getattr(self, f.name))!r}" for f in fields(self))
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def is_production(self) -> bool:
        """True when running with production safeguards (no dev tokens, no GraphiQL)."""
        return self.env == "prod"

    def tool_tokens(self) -> dict[str, str]:
        """Each internal tool's HTTP token, by the source it speaks for: the set ones, and
        in production never a public development value."""
        tokens = {
            "lms": ("LMS_TOKEN", self.lms_token),
            "survey-tool": ("SURVEY_TOOL_TOKEN", self.survey_tool_token),
            "social-tracker": ("SOCIAL_TRACKER_TOKEN", self.social_tracker_token),
            "directory": ("DIRECTORY_TOKEN", self.directory_token),
        }
        return {
            source: token
            for source, (variable, token) in tokens.items()
            if token.strip() and not (self.is_production and token == ENVIRONMENT[variable])
        }

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
                try:
                    values[field.name] = int(values[field.name])
                except (TypeError, ValueError):
                    variable = _variable_name(field.name)
                    raise ConfigurationError(f"{variable} must be an integer") from None
        return cls(**values)


class ConfigurationError(ValueError):
    """The environment cannot give a safe process: an unknown CERCLE_ENV, a value that is
    not a number, or production with a secret that is missing, too short or still the
    development value. The message names every variable to fix, never a secret's value."""


ENVIRONMENTS = ("dev", "prod")
# Secrets production must set itself, with their shortest acceptable length: the
# development values are public (they are in this file).
PRODUCTION_SECRETS: dict[str, int] = {
    "JWT_SECRET": 32,
    "ADMIN_TOKEN": 32,
    "SERVICE_TOKEN": 32,
    "BADGE_SALT": 16,
}


# The internal tools' HTTP tokens: optional in production, but secret when set.
TOOL_TOKENS = ("LMS_TOKEN", "SURVEY_TOOL_TOKEN", "SOCIAL_TRACKER_TOKEN", "DIRECTORY_TOKEN")

# Variables whose values `repr(settings)` masks; it masks the password of every URL too
# (MONGO_URL, REDIS_URL).
SECRETS = frozenset({*PRODUCTION_SECRETS, *TOOL_TOKENS, "KAFKA_SASL_PASSWORD"})
MASK = "***"


def configuration_problems(settings: Settings) -> list[str]:
    """What keeps `settings` from running safely, one sentence per variable (empty when
    they are fine). Development needs nothing: its defaults are the local stack's."""
    if settings.env not in ENVIRONMENTS:
        return [f"CERCLE_ENV must be one of {', '.join(ENVIRONMENTS)}"]
    if not settings.is_production:
        return []
    problems = []
    for variable, min_length in PRODUCTION_SECRETS.items():
        if variable == "JWT_SECRET" and (settings.jwt_public_key or settings.jwt_jwks_url):
            continue  # tokens are checked against the identity provider's key instead
        problem = _secret_problem(variable, getattr(settings, _field_name(variable)), min_length)
        if problem and variable == "JWT_SECRET":
            problem += " (or set JWT_PUBLIC_KEY or JWT_JWKS_URL)"
        if problem:
            problems.append(problem)
    for variable in TOOL_TOKENS:
        # A tool without HTTP access leaves its token out; a set one must be a secret.
        value = getattr(settings, _field_name(variable)).strip()
        if value and value != ENVIRONMENT[variable]:
            problem = _secret_problem(variable, value, 32)
            if problem:
                problems.append(problem)
    tokens = [settings.admin_token, settings.service_token, *settings.tool_tokens().values()]
    if len({token for token in tokens if token}) < len([token for token in tokens if token]):
        # A token names its holder: two holders with one token could pass for each other.
        problems.append("ADMIN_TOKEN, SERVICE_TOKEN and the tools' tokens must all differ")
    return problems


def _secret_problem(variable: str, value: str, min_length: int) -> str | None:
    value = value.strip()
    if not value:
        return f"{variable} is not set"
    if value == ENVIRONMENT[variable]:
        # A variable left out of the environment takes its development default.
        return f"{variable} is missing (the development value is public)"
    if value.startswith("<") and value.endswith(">"):
        return f"{variable} is still the example's placeholder"
    if len(value) < min_length:
        return f"{variable} is shorter than {min_length} characters"
    return None


def _shown(field_name: str, value: Any) -> Any:
    """A field's value as `repr(settings)` shows it: a set secret masked, and a URL with
    its password masked."""
    if _variable_name(field_name) in SECRETS:
        return MASK if value else value
    return _without_password(value) if isinstance(value, str) else value


def _without_password(value: str) -> str:
    """`value` with the password of its URL masked (`redis://:***@host:6379/0`)."""
    scheme, separator, rest = value.partition("://")
    # Up to the last `@` before the query: a password may hold an unencoded `@` or `/`.
    before_query, question_mark, query = rest.partition("?")
    userinfo, at, hosts = before_query.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if not (separator and at and colon):
        return value
    return f"{scheme}://{user}:{MASK}@{hosts}{question_mark}{query}"


def _field_name(variable: str) -> str:
    name = variable.lower()
    return "env" if name == "cercle_env" else name


def _variable_name(field_name: str) -> str:
    return "CERCLE_ENV" if field_name == "env" else field_name.upper()
