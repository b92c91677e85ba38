"""An accepted event as the service keeps it: what the door answers, what the relay
numbers and publishes, and a survey answer's value, which only the relay keeps (never
published). How these are laid out in the database is the adapters' business."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cercle_common.envelope import SURVEY_ANSWERED, Envelope, format_instant
from services.events.domain.events import public_data


@dataclass(frozen=True)
class SurveyAnswer:
    """One employee's answer to one question of a survey, with its value. `occurred_at`
    is fixed-width UTC text (string order is time order); `sequence`, `team` and `site`
    are given when the relay keeps it."""

    survey_id: str
    question_id: str
    employee_id: str
    kind: str
    value: Any
    occurred_at: str
    event_id: str
    sequence: int | None = None
    team: str | None = None
    site: str | None = None

    @property
    def key(self) -> str:
        """One answer per employee and question: a later answer replaces it."""
        return f"{self.survey_id}:{self.question_id}:{self.employee_id}"


@dataclass(frozen=True)
class AcceptedEvent:
    """An event the door accepted. `fingerprint` is what a re-send is compared by;
    `entry` a time-ordered nonce telling this acceptance from another of the same id (both
    None only in events stored by versions that did not record them). `sequence` is None
    until the relay gives it; `answer` rides along until the relay keeps it."""

    id: str
    type: str
    schema_version: int
    occurred_at: str
    employee_id: str
    source: str
    data: dict[str, Any]
    accepted_at: str
    fingerprint: str | None
    entry: str | None
    sequence: int | None = None
    answer: SurveyAnswer | None = None

    def published(self) -> dict[str, Any]:
        """The event as answered over HTTP and published on Kafka (with accepted_at and
        the sequence, null until the relay gave it one; never a survey answer's value)."""
        return {
            "id": self.id,
            "type": self.type,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at,
            "employee_id": self.employee_id,
            "source": self.source,
            "data": self.data,
            "sequence": self.sequence,
            "accepted_at": self.accepted_at,
        }

    def envelope(self) -> Envelope:
        """The envelope the relay publishes (once it has its sequence)."""
        return Envelope.from_dict(self.published())


def sortable_instant(instant: datetime) -> str:
    """Fixed-width UTC text, so that string order is time order."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def accepted_event(
    envelope: Envelope, data: dict[str, Any], digest: str, now: datetime, entry: str
) -> AcceptedEvent:
    """What accepting `envelope` (its data validated) at `now` records: no sequence yet
    (the relay gives it), and `entry`, the nonce that orders the outbox. A survey
    answer's value rides along in `answer`, which the event store never receives."""
    answer = None
    if envelope.type == SURVEY_ANSWERED:
        answer = SurveyAnswer(
            survey_id=data["survey_id"],
            question_id=data["question_id"],
            employee_id=envelope.employee_id,
            kind=data["kind"],
            value=data["value"],
            occurred_at=sortable_instant(envelope.occurred_at),
            event_id=envelope.id,
        )
    return AcceptedEvent(
        id=envelope.id,
        type=envelope.type,
        schema_version=envelope.schema_version,
        occurred_at=format_instant(envelope.occurred_at),
        employee_id=envelope.employee_id,
        source=envelope.source,
        data=public_data(envelope.type, data),
        accepted_at=format_instant(now),
        fingerprint=digest,
        entry=entry,
        answer=answer,
    )
