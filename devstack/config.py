"""Where each local stack instance lives and how its servers are started.

Everything here is pure (no process, no socket): the paths, ports and command lines of an
instance are computed from its name, the environment and the repository root, so that they
can be unit-tested and printed before anything runs.
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_CONFIG_DIR = REPO_ROOT / "stack"

# dev: `make run`; test: `make test`; bench: `make bench`; chaos: `make chaos`. Each has its
# own ports and data, so that benchmarks and fault injection never touch what `make run` shows.
INSTANCE_NAMES = ("dev", "test", "bench", "chaos")
FERRETDB_VERSION = "v1.24.2"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"

# Every server listens on loopback only: tests and tools only ever target 127.0.0.1.
HOST = "127.0.0.1"

# The variables that point the services at their infrastructure. When one is set to an
# address other than this instance's own, that server is not started and the address is used.
KAFKA_URL_VARIABLE = "KAFKA_BOOTSTRAP_SERVERS"
MONGO_URL_VARIABLE = "MONGO_URL"
REDIS_URL_VARIABLE = "REDIS_URL"
CACHE_DIR_VARIABLE = "CERCLE_CACHE_DIR"
# Set in the environment of every process devstack starts, so that `down` can find them by
# scanning /proc even when a pid file was lost (a `run` killed with SIGKILL, say).
INSTANCE_MARKER_VARIABLE = "CERCLE_DEVSTACK_INSTANCE"

# The local broker authenticates every client (SASL/SCRAM) and authorizes it by ACL, as
# production does. The super user is devstack's, the tests' and the operators'; each
# service and tool has its own principal (cercle_common/kafka_access.py).
KAFKA_SUPER_USER = "admin"
KAFKA_SASL_MECHANISM = "SCRAM-SHA-512"
KAFKA_SECURITY_PROTOCOL = "SASL_PLAINTEXT"


def dev_kafka_password(principal: str) -> str:
    """A local stack's Kafka password of `principal`: a public development value, as the
    development tokens of cercle_common/settings.py are (`cercle-dev-kafka-cercle-tool-lms`)."""
    return f"cercle-dev-kafka-{principal}"


@dataclass(frozen=True)
class Ports:
    """The TCP ports of one instance (all on 127.0.0.1)."""

    kafka: int
    kafka_controller: int
    mongo: int
    ferretdb_debug: int
    redis: int


DEFAULT_PORTS: dict[str, Ports] = {
    "dev": Ports(kafka=9092, kafka_controller=9093, mongo=27017, ferretdb_debug=8088, redis=6379),
    "test": Ports(
        kafka=19092, kafka_controller=19093, mongo=27117, ferretdb_debug=18088, redis=16379
    ),
    "bench": Ports(
        kafka=29092, kafka_controller=29093, mongo=27217, ferretdb_debug=28088, redis=26379
    ),
    "chaos": Ports(
        kafka=39092, kafka_controller=39093, mongo=27317, ferretdb_debug=38088, redis=36379
    ),
}

# Ports field -> the environment variable that overrides it.
PORT_VARIABLES: dict[str, str] = {
    "kafka": "CERCLE_KAFKA_PORT",
    "kafka_controller": "CERCLE_KAFKA_CONTROLLER_PORT",
    "mongo": "CERCLE_MONGO_PORT",
    "ferretdb_debug": "CERCLE_FERRETDB_DEBUG_PORT",
    "redis": "CERCLE_REDIS_PORT",
}


class ConfigError(Exception):
    """A setting of the local stack is invalid (an unknown instance, a bad port)."""


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server of the stack and where its traces go."""

    name: str
    argv: tuple[str, ...]
    port: int
    log_file: Path
    pid_file: Path


@dataclass(frozen=True)
class StackConfig:
    """One instance of the local stack: its ports, folders and the servers it runs.

    `external_*` hold addresses given in the environment: those servers are used as they
    are and never started nor stopped by devstack.
    """

    name: str
    root: Path
    cache_dir: Path
    ports: Ports
    external_kafka: str | None = None
    external_mongo: str | None = None
    external_redis: str | None = None

    # -- folders -------------------------------------------------------------------------
    @property
    def stack_dir(self) -> Path:
        """`.stack/<name>/`: everything this instance writes (data, logs, pids, env)."""
        return self.root / ".stack" / self.name

    @property
    def data_dir(self) -> Path:
        """Server data; `up --fresh` wipes it."""
        return self.stack_dir / "data"

    @property
    def logs_dir(self) -> Path:
        """One log file per server or process."""
        return self.stack_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        """One pid file per server; `services/` holds the processes of `run`."""
        return self.stack_dir / "pids"

    @property
    def services_pids_dir(self) -> Path:
        """Pid files of the service processes started by `run`."""
        return self.pids_dir / "services"

    @property
    def run_pid_file(self) -> Path:
        """The pid of a foreground `run`, which `down` signals."""
        return self.pids_dir / "run.pid"

    @property
    def conf_dir(self) -> Path:
        """Configuration files rendered for this instance."""
        return self.stack_dir / "conf"

    @property
    def env_file(self) -> Path:
        """Shell-sourceable `NAME=value` lines pointing at this instance."""
        return self.stack_dir / "env"

    @property
    def kafka_libs_dir(self) -> Path:
        """The Kafka broker's jars (shared by every instance)."""
        return self.cache_dir / "kafka" / "libs"

    @property
    def ferretdb_binary(self) -> Path:
        """The FerretDB binary built from source (shared by every instance)."""
        return self.cache_dir / "bin" / "ferretdb"

    @property
    def kafka_data_dir(self) -> Path:
        """Kafka's log.dirs; its meta.properties says the storage is formatted."""
        return self.data_dir / "kafka"

    @property
    def kafka_sasl_marker(self) -> Path:
        """Written when the storage is formatted with the super user's credential: data
        formatted before the broker used SASL has no such user and cannot start."""
        return self.kafka_data_dir / "cercle-sasl"

    @property
    def server_properties_file(self) -> Path:
        """The broker configuration rendered from stack/kafka/server.properties."""
        return self.conf_dir / "server.properties"

    # -- addresses -----------------------------------------------------------------------
    @property
    def local_kafka(self) -> str:
        """This instance's own bootstrap address."""
        return f"{HOST}:{self.ports.kafka}"

    @property
    def local_mongo(self) -> str:
        """This instance's own MongoDB URL."""
        return f"mongodb://{HOST}:{self.ports.mongo}/"

    @property
    def local_redis(self) -> str:
        """This instance's own Redis URL."""
        return f"redis://{HOST}:{self.ports.redis}/0"

    @property
    def kafka_bootstrap(self) -> str:
        """The Kafka bootstrap servers the services use."""
        return self.external_kafka or self.local_kafka

    @property
    def mongo_url(self) -> str:
        """The MongoDB URL the services use."""
        return self.external_mongo or self.local_mongo

    @property
    def redis_url(self) -> str:
        """The Redis URL the services use."""
        return self.external_redis or self.local_redis

    def service_env(self) -> dict[str, str]:
        """The variables that point a process at this instance, as the Kafka super user
        (tests and command-line tools; `run` gives each service its own principal)."""
        return {
            KAFKA_URL_VARIABLE: self.kafka_bootstrap,
            MONGO_URL_VARIABLE: self.mongo_url,
            REDIS_URL_VARIABLE: self.redis_url,
            **self.kafka_credentials(KAFKA_SUPER_USER),
        }

    def kafka_credentials(self, principal: str | None) -> dict[str, str]:
        """The variables that make a process `principal` on this instance's own broker
        (None: no Kafka identity at all). A broker given from outside keeps the
        credentials of the environment: nothing is set."""
        if self.external_kafka is not None:
            return {}
        return {
            "KAFKA_SECURITY_PROTOCOL": KAFKA_SECURITY_PROTOCOL,
            "KAFKA_SASL_MECHANISM": KAFKA_SASL_MECHANISM,
            "KAFKA_SASL_USERNAME": principal or "",
            "KAFKA_SASL_PASSWORD": dev_kafka_password(principal) if principal else "",
        }

    @property
    def kafka_probe_options(self) -> dict[str, str]:
        """kafka-python options of the super user, for readiness probes and admin calls
        on the local broker (none for one given from outside)."""
        if self.external_kafka is not None:
            return {}
        return {
            "security_protocol": KAFKA_SECURITY_PROTOCOL,
            "sasl_mechanism": KAFKA_SASL_MECHANISM,
            "sasl_plain_username": KAFKA_SUPER_USER,
            "sasl_plain_password": dev_kafka_password(KAFKA_SUPER_USER),
        }

    def managed_servers(self) -> tuple[str, ...]:
        """The servers devstack starts for this instance (those not given from outside)."""
        servers = []
        if self.external_kafka is None:
            servers.append("kafka")
        if self.external_mongo is None:
            servers.append("ferretdb")
        if self.external_redis is None:
            servers.append("redis")
        return tuple(servers)

    # -- servers -------------------------------------------------------------------------
    def server(self, name: str) -> ServerSpec:
        """The start command and files of one server: `kafka`, `ferretdb` or `redis`."""
        builders = {"kafka": self._kafka, "ferretdb": self._ferretdb, "redis": self._redis}
        if name not in builders:
            raise ConfigError(f"unknown server {name!r}; known: {', '.join(builders)}")
        return builders[name]()

    def _files(self, name: str) -> tuple[Path, Path]:
        return self.logs_dir / f"{name}.log", self.pids_dir / f"{name}.pid"

    def _kafka(self) -> ServerSpec:
        log_file, pid_file = self._files("kafka")
        argv = (
            "java",
            "-Xms128m",
            "-Xmx512m",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={STACK_CONFIG_DIR / 'kafka' / 'log4j2.properties'}",
            f"-Dcercle.kafka.log.file={log_file}",
            "-cp",
            f"{self.kafka_libs_dir}/*",
            "kafka.Kafka",
            str(self.server_properties_file),
        )
        return ServerSpec("kafka", argv, self.ports.kafka, log_file, pid_file)

    def kafka_format_argv(self, cluster_id: str) -> tuple[str, ...]:
        """Formats the KRaft storage once, before the first start."""
        return (
            "java",
            "-Xmx256m",
            f"-Dlog4j2.configurationFile={STACK_CONFIG_DIR / 'kafka' / 'log4j2.properties'}",
            f"-Dcercle.kafka.log.file={self.logs_dir / 'kafka.log'}",
            "-cp",
            f"{self.kafka_libs_dir}/*",
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            cluster_id,
            "-c",
            str(self.server_properties_file),
            # The super user's credential must be in the metadata before the first start:
            # the broker authenticates to itself with it.
            "--add-scram",
            f"{KAFKA_SASL_MECHANISM}=[name={KAFKA_SUPER_USER},"
            f"password={dev_kafka_password(KAFKA_SUPER_USER)}]",
        )

    def _ferretdb(self) -> ServerSpec:
        log_file, pid_file = self._files("ferretdb")
        data = self.data_dir / "ferretdb"
        argv = (
            str(self.ferretdb_binary),
            "--handler=sqlite",
            # WAL with synchronous=NORMAL: a commit no longer waits for an fsync (it
            # survives a killed process, not a power cut, which a development stack
            # may lose), so writers hold SQLite's one write lock for far less time.
            f"--sqlite-url=file:{data}/?_pragma=synchronous(normal)",
            # The network is closed and the project never phones home.
            "--telemetry=disable",
            f"--state-dir={data}",
            f"--debug-addr={HOST}:{self.ports.ferretdb_debug}",
            f"--listen-addr={HOST}:{self.ports.mongo}",
            "--log-level=WARN",
        )
        return ServerSpec("ferretdb", argv, self.ports.mongo, log_file, pid_file)

    def _redis(self) -> ServerSpec:
        log_file, pid_file = self._files("redis")
        argv = (
            "redis-server",
            str(STACK_CONFIG_DIR / "redis" / "redis.conf"),
            "--port",
            str(self.ports.redis),
            "--dir",
            str(self.data_dir / "redis"),
        )
        return ServerSpec("redis", argv, self.ports.redis, log_file, pid_file)


def load_config(
    name: str = "dev",
    environ: Mapping[str, str] | None = None,
    root: Path = REPO_ROOT,
) -> StackConfig:
    """The configuration of instance `name`, with the overrides found in `environ`.

    Port variables (`CERCLE_KAFKA_PORT`, ...) move a server; `KAFKA_BOOTSTRAP_SERVERS`,
    `MONGO_URL` and `REDIS_URL` replace it, unless they name this instance's own address
    (as they do in a shell that sourced `.stack/<name>/env`).
    """
    env = os.environ if environ is None else environ
    if name not in DEFAULT_PORTS:
        raise ConfigError(f"unknown instance {name!r}; known: {', '.join(INSTANCE_NAMES)}")
    defaults = DEFAULT_PORTS[name]
    ports = Ports(
        **{
            field: _port(env, variable, getattr(defaults, field))
            for field, variable in PORT_VARIABLES.items()
        }
    )
    taken = [getattr(ports, field) for field in PORT_VARIABLES]
    if len(set(taken)) != len(taken):
        raise ConfigError(f"two servers of {name!r} would share a port: {ports}")
    cache_dir = Path(env.get(CACHE_DIR_VARIABLE) or root / ".cache").resolve()
    base = StackConfig(name=name, root=root, cache_dir=cache_dir, ports=ports)
    return StackConfig(
        name=name,
        root=root,
        cache_dir=cache_dir,
        ports=ports,
        external_kafka=_external(env, KAFKA_URL_VARIABLE, base.local_kafka),
        external_mongo=_external(env, MONGO_URL_VARIABLE, base.local_mongo),
        external_redis=_external(env, REDIS_URL_VARIABLE, base.local_redis),
    )


def _port(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{variable}={raw!r} is not a TCP port")
    return int(raw)


def _external(env: Mapping[str, str], variable: str, own_address: str) -> str | None:
    value = env.get(variable, "").strip()
    if not value or value.rstrip("/") == own_address.rstrip("/"):
        return None
    return value


def render_server_properties(config: StackConfig, template: str) -> str:
    """The broker configuration of `config`, from the template in stack/kafka/."""
    return string.Template(template).substitute(
        host=HOST,
        kafka_port=config.ports.kafka,
        controller_port=config.ports.kafka_controller,
        log_dirs=config.kafka_data_dir,
        super_user=KAFKA_SUPER_USER,
        super_password=dev_kafka_password(KAFKA_SUPER_USER),
        controller_password=dev_kafka_password("controller"),
    )


def read_server_properties_template() -> str:
    """The broker configuration template kept in the repository."""
    return (STACK_CONFIG_DIR / "kafka" / "server.properties").read_text()


def render_env_file(config: StackConfig) -> str:
    """`NAME=value` lines for the services, quoted so that a shell can source them."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in config.service_env().items())
