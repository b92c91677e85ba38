"""Who may do what on Kafka: one principal per service and per internal tool, with the
ACLs that let each touch only its own topics. The local stack applies this table to its
broker (`python -m cercle_common.kafka_access apply`), and the Kubernetes kit's
`KafkaUser`s are checked against it, so it is the one place to change a permission.

A tool's principal may write its own inbound topic and nothing else: the broker itself
refuses the LMS on the survey tool's topic, so a message can no longer claim another
tool's authority. The super user (devstack, tests, operators' commands such as the
dead-letter resubmission) is not in this table: the broker's `super.users` names it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from cercle_common.topics import (
    BADGES,
    DEADLETTER,
    EMPLOYEES,
    EVENTS,
    INBOUND_PREFIX,
    INBOUND_TOOLS,
    POINTS,
    inbound_topic,
)

LITERAL = "literal"
PREFIX = "prefix"
READ = ("Describe", "Read")
WRITE = ("Describe", "Write")


@dataclass(frozen=True)
class Grant:
    """Operations allowed on a topic or consumer group, named literally or by prefix."""

    resource: str  # "topic" or "group"
    name: str
    operations: tuple[str, ...]
    pattern: str = LITERAL


def reads(topic: str, pattern: str = LITERAL) -> Grant:
    return Grant("topic", topic, READ, pattern)


def writes(topic: str) -> Grant:
    return Grant("topic", topic, WRITE)


def joins_groups(prefix: str) -> Grant:
    return Grant("group", prefix, READ, PREFIX)


def tool_principal(tool: str) -> str:
    """The Kafka user of an internal tool, e.g. `cercle-tool-lms`."""
    return f"cercle-tool-{tool}"


SERVICE_ACCESS: Mapping[str, tuple[Grant, ...]] = {
    # Reads every tool's inbound topic; its relay publishes events and the directory.
    "cercle-events": (
        reads(INBOUND_PREFIX, PREFIX),
        writes(EVENTS),
        writes(EMPLOYEES),
        writes(DEADLETTER),
        joins_groups("cercle-events"),
    ),
    "cercle-points": (
        reads(EVENTS),
        reads(EMPLOYEES),
        writes(POINTS),
        writes(DEADLETTER),
        joins_groups("cercle-points"),
    ),
    "cercle-badges": (
        reads(EVENTS),
        reads(POINTS),
        reads(EMPLOYEES),
        writes(BADGES),
        writes(DEADLETTER),
        joins_groups("cercle-badges"),
    ),
}

TOOL_ACCESS: Mapping[str, tuple[Grant, ...]] = {
    tool_principal(tool): (writes(inbound_topic(tool)),) for tool in INBOUND_TOOLS
}

ACCESS: Mapping[str, tuple[Grant, ...]] = {**SERVICE_ACCESS, **TOOL_ACCESS}


def apply_access(
    admin: object, passwords: Mapping[str, str], access: Mapping[str, tuple[Grant, ...]] = ACCESS
) -> dict[str, int]:
    """Give every principal of `access` its SCRAM-SHA-512 password and exactly its ACLs,
    through a kafka-python `KafkaAdminClient` connected as the super user. Idempotent: a
    password is set again (which is how one tool's credential is rotated, touching no
    other), ACLs already there stay, ACLs of these principals that the table no longer
    names are removed. Returns the number of ACLs created and removed."""
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourcePatternFilter,
        ResourceType,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin.alter_user_scram_credentials(  # type: ignore[attr-defined]
        [
            UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_512, passwords[name])
            for name in access
        ]
    )
    patterns = {LITERAL: ACLResourcePatternType.LITERAL, PREFIX: ACLResourcePatternType.PREFIXED}
    wanted = {
        (f"User:{name}", grant.resource, grant.name, grant.pattern, operation)
        for name, grants in access.items()
        for grant in grants
        for operation in grant.operations
    }
    existing_filter = ACLFilter(
        principal=None,
        host="*",
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    acls, _ = admin.describe_acls(existing_filter)  # type: ignore[attr-defined]
    present = {
        (
            acl.principal,
            acl.resource_pattern.resource_type.name.lower(),
            acl.resource_pattern.resource_name,
            PREFIX if acl.resource_pattern.pattern_type == ACLResourcePatternType.PREFIXED
            else LITERAL,
            acl.operation.name.capitalize(),
        ): acl
        for acl in acls
    }  # fmt: skip
    ours = {f"User:{name}" for name in access}
    to_create = [
        ACL(
            principal=principal,
            host="*",
            operation=getattr(ACLOperation, operation.upper()),
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                getattr(ResourceType, resource.upper()), name, patterns[pattern]
            ),
        )
        for principal, resource, name, pattern, operation in sorted(wanted - set(present))
    ]
    stale = [acl for key, acl in present.items() if key[0] in ours and key not in wanted]
    if to_create:
        admin.create_acls(to_create)  # type: ignore[attr-defined]
    if stale:
        admin.delete_acls([_filter_of(acl) for acl in stale])  # type: ignore[attr-defined]
    return {"created": len(to_create), "removed": len(stale)}


def _filter_of(acl: object) -> object:
    from kafka.admin import ACLFilter, ResourcePatternFilter

    pattern = acl.resource_pattern  # type: ignore[attr-defined]
    return ACLFilter(
        principal=acl.principal,  # type: ignore[attr-defined]
        host=acl.host,  # type: ignore[attr-defined]
        operation=acl.operation,  # type: ignore[attr-defined]
        permission_type=acl.permission_type,  # type: ignore[attr-defined]
        resource_pattern=ResourcePatternFilter(
            pattern.resource_type, pattern.resource_name, pattern.pattern_type
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: `apply` the table to the broker of the environment (as the super
    user of KAFKA_SASL_USERNAME), or `list` it; passwords come from `--passwords-from`,
    a file of `principal=password` lines."""
    from cercle_common.settings import Settings

    parser = argparse.ArgumentParser(
        prog="python -m cercle_common.kafka_access",
        description="Kafka users and ACLs of Cercle: list them, or apply them to a broker.",
    )
    parser.add_argument("command", choices=["apply", "list"])
    parser.add_argument(
        "--passwords-from",
        help="file of principal=password lines (apply: one line for every principal)",
    )
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, grants in ACCESS.items():
            for grant in grants:
                operations = ",".join(grant.operations)
                print(name, grant.resource, grant.pattern, grant.name, operations)
        return 0
    if not args.passwords_from:
        parser.error("apply needs --passwords-from")
    passwords = read_passwords(args.passwords_from)
    missing = sorted(set(ACCESS) - set(passwords))
    if missing:
        parser.error(f"{args.passwords_from} has no password for {', '.join(missing)}")
    from kafka.admin import KafkaAdminClient

    from cercle_common.messaging import client_options

    admin = KafkaAdminClient(**client_options(Settings.from_env()), client_id="cercle-access")
    try:
        changes = apply_access(admin, passwords)
    finally:
        admin.close()
    print(
        f"kafka access: {len(ACCESS)} users, "
        f"{changes['created']} ACLs created, {changes['removed']} removed"
    )
    return 0


def read_passwords(path: str) -> dict[str, str]:
    """`principal=password` lines (blank lines and `#` comments skipped)."""
    passwords: dict[str, str] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, password = line.partition("=")
                passwords[name.strip()] = password.strip()
    return passwords


if __name__ == "__main__":
    sys.exit(main())
