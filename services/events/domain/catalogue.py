"""The catalogue an administrator keeps: the contents employees may share, the courses and
the surveys (with their questions). An action only earns anything when it names an item
of the catalogue, so points cannot be had for an invented course or survey.

Pure: parsing an item, and judging an event against the item (or the share) it names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cercle_common.envelope import (
    CONTENT_SHARED,
    COURSE_COMPLETED,
    SHARE_DELETED,
    SHARE_ENGAGED,
    SURVEY_ANSWERED,
    format_instant,
    parse_instant,
)
from cercle_common.errors import ValidationError
from services.events.domain.events import SURVEY_KINDS, Field, check_field

CONTENT = "content"
COURSE = "course"
SURVEY = "survey"
# As they appear in the admin API's paths (`/v1/admin/catalogue/courses/<id>`).
KIND_OF_COLLECTION: Mapping[str, str] = {"contents": CONTENT, "courses": COURSE, "surveys": SURVEY}

MAX_QUESTIONS = 50
_TITLE = Field("text", max_length=200)
_URL = Field("url", max_length=2048)
_TRACK = Field("text", max_length=64)
_ID = Field("id")
_QUESTION_KIND = Field("enum", choices=SURVEY_KINDS)

# event type -> (the kind of item it names, the data field naming it)
REFERENCES: Mapping[str, tuple[str, str]] = {
    CONTENT_SHARED: (CONTENT, "content_id"),
    COURSE_COMPLETED: (COURSE, "course_id"),
    SURVEY_ANSWERED: (SURVEY, "survey_id"),
}
SHARE_FOLLOW_UPS = frozenset({SHARE_ENGAGED, SHARE_DELETED})


@dataclass(frozen=True)
class ShareOnRecord:
    """What the event store says about the event a follow-up names."""

    type: str
    employee_id: str


def item_key(kind: str, item_id: str) -> str:
    """The stored item's `_id`: ids of different kinds may coincide."""
    return f"{kind}:{item_id}"


def check_item_id(item_id: str) -> str:
    """An item id from a path: 1 to 128 characters, not blank."""
    return str(check_field(_ID, item_id, "id"))


def parse_item(kind: str, item_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """An item as the admin API takes it (`PUT`), checked and normalised; errors name the
    field. The result is what is stored and answered (without `_id`)."""
    allowed = _FIELDS[kind]
    for name in sorted(body):
        if name not in allowed:
            raise ValidationError(f"is not a field of a {kind}", name)
    item: dict[str, Any] = {"kind": kind, "id": check_item_id(item_id)}
    if kind == CONTENT:
        item["title"] = check_field(_TITLE, _required(body, "title"), "title")
        item["url"] = check_field(_URL, _required(body, "url"), "url")
        starts = _optional_instant(body, "active_from")
        ends = _optional_instant(body, "active_until")
        if starts is not None and ends is not None and ends <= starts:
            raise ValidationError("must be after active_from", "active_until")
        item["active_from"] = format_instant(starts) if starts else None
        item["active_until"] = format_instant(ends) if ends else None
    elif kind == COURSE:
        item["title"] = check_field(_TITLE, _required(body, "title"), "title")
        item["track"] = check_field(_TRACK, _required(body, "track"), "track")
    else:
        title = body.get("title")
        item["title"] = None if title is None else check_field(_TITLE, title, "title")
        item["questions"] = _questions(_required(body, "questions"))
    return item


_FIELDS: Mapping[str, frozenset[str]] = {
    CONTENT: frozenset({"title", "url", "active_from", "active_until"}),
    COURSE: frozenset({"title", "track"}),
    SURVEY: frozenset({"title", "questions"}),
}


def _required(body: Mapping[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None:
        raise ValidationError("is required", name)
    return value


def _optional_instant(body: Mapping[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    return None if value is None else parse_instant(value, name)


def _questions(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_QUESTIONS:
        raise ValidationError(f"must be a list of 1 to {MAX_QUESTIONS} questions", "questions")
    questions: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, question in enumerate(value):
        path = f"questions.{index}"
        if not isinstance(question, dict):
            raise ValidationError("must be an object {question_id, kind}", path)
        for name in sorted(question):
            if name not in ("question_id", "kind"):
                raise ValidationError("is not a field of a question", f"{path}.{name}")
        question_id = check_field(_ID, question.get("question_id"), f"{path}.question_id")
        if question_id in seen:
            raise ValidationError("appears twice in this survey", f"{path}.question_id")
        seen.add(question_id)
        kind = check_field(_QUESTION_KIND, question.get("kind"), f"{path}.kind")
        questions.append({"question_id": question_id, "kind": kind})
    return questions


def check_against_item(
    event_type: str, data: Mapping[str, Any], occurred_at: datetime, item: Mapping[str, Any] | None
) -> None:
    """The event names an item of the catalogue that takes it. `item` is the stored item
    the event's reference field names (None: there is none). Errors name `data.<field>`."""
    kind, field = REFERENCES[event_type]
    path = f"data.{field}"
    if item is None:
        raise ValidationError(f"is not a {kind} of the catalogue", path)
    if not item.get("active", True):
        raise ValidationError(f"this {kind} was withdrawn from the catalogue", path)
    if kind == CONTENT:
        _check_window(item, occurred_at, path)
    elif kind == COURSE:
        if data.get("track") != item["track"]:
            raise ValidationError(f"must be the course's track ({item['track']})", "data.track")
    else:
        kinds = {q["question_id"]: q["kind"] for q in item["questions"]}
        question_id = data.get("question_id")
        if question_id not in kinds:
            raise ValidationError("is not a question of this survey", "data.question_id")
        if data.get("kind") != kinds[question_id]:
            expected = kinds[question_id]
            raise ValidationError(f"must be this question's kind ({expected})", "data.kind")


def _check_window(item: Mapping[str, Any], occurred_at: datetime, path: str) -> None:
    starts, ends = item.get("active_from"), item.get("active_until")
    if starts is not None and occurred_at < parse_instant(starts, "active_from"):
        raise ValidationError(f"this content may be shared from {starts}", path)
    if ends is not None and occurred_at >= parse_instant(ends, "active_until"):
        raise ValidationError(f"this content could be shared until {ends}", path)


def check_share_reference(employee_id: str, share: ShareOnRecord | None) -> None:
    """A follow-up (`share.engaged`, `share.deleted`) names an accepted `content.shared`
    of the same employee: nobody earns from someone else's post, or from no post."""
    # One answer for "no such share" and "someone else's": ids of others are not probed.
    if share is None or share.type != CONTENT_SHARED or share.employee_id != employee_id:
        raise ValidationError(
            "is not an accepted content.shared event of this employee", "data.share_event_id"
        )
