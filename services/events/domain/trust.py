"""Which source may send which event types, on which door. One table, read by every door.

The credential says which source speaks, not the payload: over HTTP each internal tool
presents its own token (the gateway the service token), on Kafka each tool is its own
principal and may write only its own inbound topic. A `source` in the payload may repeat
the credential's source, never contradict it. The table keeps each tool to the facts it is
the authority on:
the LMS reports completed courses, the survey tool the answers, the social-network tracker
what happens to shares, the HR directory who works here. The employees' apps (through the
gateway) may report what an employee does in them, but not a course they claim to have
finished elsewhere: that one only counts when the LMS says so.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from cercle_common.envelope import (
    CHARTER_ACKNOWLEDGED,
    CONTENT_SHARED,
    COURSE_COMPLETED,
    EMPLOYEE_ERASED,
    EMPLOYEE_UPSERTED,
    POINTS_ADJUSTED,
    SHARE_DELETED,
    SHARE_ENGAGED,
    SURVEY_ANSWERED,
)
from cercle_common.errors import Forbidden, ValidationError

# The doors an event comes through.
HTTP = "http"  # POST /v1/events and /v1/events:batch, with the service token
KAFKA = "kafka"  # the inbound topic
ADMIN = "admin"  # POST /v1/admin/events, with the admin token

# The ingestion's path names, by door.
DOOR_OF_PATH: Mapping[str, str] = {"http": HTTP, "http_batch": HTTP, "kafka": KAFKA, "admin": ADMIN}

GATEWAY = "gateway"
LMS = "lms"
SOCIAL_TRACKER = "social-tracker"
SURVEY_TOOL = "survey-tool"
DIRECTORY = "directory"
ADMINISTRATOR = "admin"

_SHARE_FACTS = frozenset({CONTENT_SHARED, SHARE_ENGAGED, SHARE_DELETED})

# source -> door -> the types it may send there.
TRUSTED_SOURCES: Mapping[str, Mapping[str, frozenset[str]]] = {
    GATEWAY: {
        # What employees do in the apps; an administrator's adjustment also goes through
        # the gateway, on the admin door (which wants the admin token besides).
        HTTP: frozenset({CONTENT_SHARED, SHARE_DELETED, CHARTER_ACKNOWLEDGED, SURVEY_ANSWERED}),
        ADMIN: frozenset({POINTS_ADJUSTED}),
    },
    LMS: {HTTP: frozenset({COURSE_COMPLETED}), KAFKA: frozenset({COURSE_COMPLETED})},
    # It sees the posts on the networks: the share itself, what it drew, its removal.
    SOCIAL_TRACKER: {HTTP: _SHARE_FACTS, KAFKA: _SHARE_FACTS},
    SURVEY_TOOL: {HTTP: frozenset({SURVEY_ANSWERED}), KAFKA: frozenset({SURVEY_ANSWERED})},
    # HR sync: on the inbound topic only (the directory's HTTP API is a separate door).
    DIRECTORY: {KAFKA: frozenset({EMPLOYEE_UPSERTED, EMPLOYEE_ERASED})},
    ADMINISTRATOR: {ADMIN: frozenset({POINTS_ADJUSTED})},
}


def door_of(path: str) -> str:
    """The door an ingestion path belongs to (`http_batch` is the HTTP door)."""
    door = DOOR_OF_PATH.get(path)
    if door is None:
        raise AssertionError(f"unknown ingestion path {path!r}")
    return door


def sources_of_caller(caller: str) -> tuple[str, ...]:
    """The sources an HTTP credential speaks for, its default first: the service token is
    the gateway's, the admin token the administrator's (who also acts through the
    gateway), a tool's token its own (`caller` is then the tool's source name)."""
    if caller == "service":
        return (GATEWAY,)
    if caller == "admin":
        return (ADMINISTRATOR, GATEWAY)
    return (caller,)


def source_spoken(claimed: object, speaks_for: Collection[str]) -> str:
    """The source of an event: the one its credential speaks for (the first of
    `speaks_for` when the payload names none). A payload naming another source is refused
    (403 naming `source`), so a tool cannot pass itself off as another."""
    if claimed is None:
        return next(iter(speaks_for))
    if claimed not in speaks_for:
        allowed = " or ".join(sorted(speaks_for))
        raise Forbidden(
            f"does not match the credential, which speaks for {allowed} (omit it or say that)",
            "source",
        )
    return str(claimed)


def check_source_may_send(source: object, event_type: str, door: str) -> None:
    """Refuse an event whose `source` is unknown, or may not send `event_type` on `door`.
    A missing or unknown source is invalid (422); a known one overstepping is 403."""
    if source is None:
        raise ValidationError(f"is required: one of {', '.join(sorted(TRUSTED_SOURCES))}", "source")
    if not isinstance(source, str) or source not in TRUSTED_SOURCES:
        raise ValidationError(
            f"is not a known source (one of {', '.join(sorted(TRUSTED_SOURCES))})", "source"
        )
    if event_type not in TRUSTED_SOURCES[source].get(door, frozenset()):
        allowed = sorted(
            source
            for source, doors in TRUSTED_SOURCES.items()
            if event_type in doors.get(door, frozenset())
        )
        who = ", ".join(allowed) if allowed else "no source"
        raise Forbidden(f"{source} may not send {event_type} here ({who} may)", "source")
