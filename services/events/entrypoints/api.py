"""HTTP views of the events service: each parses input and hands it to a handler."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from cercle_common.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from cercle_common.httpapi import (
    ADMIN_CALLER,
    SERVICE_CALLER,
    caller,
    json_body,
    service_token_guard,
    settings_of,
)
from services.events.domain.catalogue import KIND_OF_COLLECTION
from services.events.domain.directory import parse_record
from services.events.domain.events import MAX_EVENT_BYTES
from services.events.domain.trust import DIRECTORY, sources_of_caller
from services.events.handlers import Catalogue, Directory, Ingestion, Outcome, enps_report
from services.events.ports import SurveyAnswers

MAX_BATCH = 500
MAX_IDS = 500
MAX_PAGE = 500

blueprint = Blueprint("events", __name__)
# Only Cercle's own components call this API: the gateway, and the internal tools with
# their own tokens, which open the event door only (and the directory for the HR tool).
blueprint.before_request(service_token_guard(tools=True))
TOOL_ENDPOINTS = frozenset({"events.post_event", "events.post_events_batch"})
DIRECTORY_ENDPOINTS = frozenset({"events.put_employee", "events.delete_employee"})


@blueprint.before_request
def tools_at_their_door_only() -> None:
    """An internal tool's token opens only what that tool does."""
    who = caller()
    if who in (ADMIN_CALLER, SERVICE_CALLER):
        return
    allowed = TOOL_ENDPOINTS | (DIRECTORY_ENDPOINTS if who == DIRECTORY else frozenset())
    if request.endpoint not in allowed:
        raise Forbidden(f"the {who} token opens the event door only", "Authorization")


def _ingestion() -> Ingestion:
    ingestion: Ingestion = current_app.extensions["cercle_events.ingestion"]
    return ingestion


def _directory() -> Directory:
    directory: Directory = current_app.extensions["cercle_events.directory"]
    return directory


def _answers() -> SurveyAnswers:
    answers: SurveyAnswers = current_app.extensions["cercle_events.answers"]
    return answers


def _answer(outcome: Outcome) -> tuple[Response, int]:
    if outcome.error is not None:
        raise outcome.error
    return jsonify(outcome.event), outcome.status


def _single_event_body() -> dict[str, Any]:
    if (request.content_length or 0) > MAX_EVENT_BYTES:
        raise PayloadTooLarge(f"an event may be at most {MAX_EVENT_BYTES} bytes")
    return json_body()


@blueprint.post("/v1/events")
def post_event() -> tuple[Response, int]:
    """One event: 201 new, 200 already accepted with the same content, 4xx otherwise."""
    return _answer(_ingestion().accept(_single_event_body(), path="http", speaks_for=_speaks_for()))


@blueprint.get("/v1/events/<event_id>")
def get_event(event_id: str) -> Response:
    """One accepted event, as published (published yet or still in the outbox)."""
    return jsonify(_ingestion().stored(event_id))


@blueprint.post("/v1/events:batch")
def post_events_batch() -> tuple[Response, int]:
    """Up to 500 events; one result per item, in order."""
    body = json_body()
    events = body.get("events")
    if not isinstance(events, list):
        raise ValidationError("must be a list of events", "events")
    if not 1 <= len(events) <= MAX_BATCH:
        raise ValidationError(f"must hold 1 to {MAX_BATCH} events", "events")
    outcomes = _ingestion().accept_many(events, path="http_batch", speaks_for=_speaks_for())
    return jsonify(results=[outcome.as_result() for outcome in outcomes]), 200


@blueprint.post("/v1/admin/events")
def post_admin_event() -> tuple[Response, int]:
    """The admin door (the only one for `points.adjusted`)."""
    _require_admin()
    body = _single_event_body()
    return _answer(_ingestion().accept(body, path="admin", speaks_for=_speaks_for(), admin=True))


@blueprint.put("/v1/employees/<employee_id>")
def put_employee(employee_id: str) -> tuple[Response, int]:
    """Create (201) or replace (200) a directory entry (admin token, or the HR directory
    tool's: who works here, and their e-mail, is not every component's to change)."""
    _require_directory_writer()
    _check_employee_id(employee_id)
    saved = _directory().save(employee_id, parse_record(json_body()))
    return jsonify(saved.employee), 201 if saved.created else 200


@blueprint.get("/v1/employees/<employee_id>")
def get_employee(employee_id: str) -> Response:
    """One directory entry."""
    return jsonify(_directory().get(employee_id))


@blueprint.get("/v1/employees")
def get_employees() -> Response:
    """`?ids=a,b,c`: the entries found (unknown ids are simply absent)."""
    raw = request.args.get("ids")
    if raw is None:
        raise ValidationError("is required (comma-separated employee ids)", "ids")
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if len(ids) > MAX_IDS:
        raise ValidationError(f"at most {MAX_IDS} ids per call", "ids")
    return jsonify(employees=_directory().get_many(ids))


@blueprint.delete("/v1/employees/<employee_id>")
def delete_employee(employee_id: str) -> Response:
    """Erase the employee's personal data and publish a tombstone (admin token, or the HR
    directory tool's)."""
    _require_directory_writer()
    return jsonify(_directory().erase(employee_id))


@blueprint.get("/v1/surveys/<survey_id>/enps")
def get_enps(survey_id: str) -> Response:
    """eNPS of a survey: `team`, `site`, `from`, `to` (first days of months, `to` excluded)."""
    settings = settings_of(current_app)
    report = enps_report(
        _answers(),
        survey_id,
        team=request.args.get("team"),
        site=request.args.get("site"),
        start=request.args.get("from"),
        end=request.args.get("to"),
        min_group=settings.enps_min_group,
        time_zone=settings.org_timezone,
    )
    return jsonify(report)


@blueprint.put("/v1/admin/catalogue/<collection>/<item_id>")
def put_catalogue_item(collection: str, item_id: str) -> tuple[Response, int]:
    """Create (201) or replace (200) a content, course or survey of the catalogue."""
    _require_admin()
    saved = _catalogue().put(_kind(collection), item_id, json_body())
    return jsonify(saved.item), 201 if saved.created else 200


@blueprint.get("/v1/admin/catalogue/<collection>/<item_id>")
def get_catalogue_item(collection: str, item_id: str) -> Response:
    """One item, withdrawn or not."""
    _require_admin()
    return jsonify(_catalogue().get(_kind(collection), item_id))


@blueprint.delete("/v1/admin/catalogue/<collection>/<item_id>")
def withdraw_catalogue_item(collection: str, item_id: str) -> Response:
    """Withdraw an item: kept for the record, refused in new events."""
    _require_admin()
    return jsonify(_catalogue().withdraw(_kind(collection), item_id))


@blueprint.get("/v1/admin/catalogue/<collection>")
def list_catalogue(collection: str) -> Response:
    """Items of a kind in id order: `first` (1-500, default 100), `after` (an id)."""
    _require_admin()
    kind = _kind(collection)
    first = page_size(request.args.get("first"))
    return jsonify(_catalogue().list(kind, first, request.args.get("after") or None))


def _catalogue() -> Catalogue:
    catalogue: Catalogue = current_app.extensions["cercle_events.catalogue"]
    return catalogue


def page_size(raw: str | None) -> int:
    """`first` of a list request: 1 to `MAX_PAGE`, 100 when absent."""
    if raw is None:
        return 100
    try:
        value = int(raw)
    except ValueError as error:
        raise ValidationError("must be an integer", "first") from error
    if not 1 <= value <= MAX_PAGE:
        raise ValidationError(f"must be 1 to {MAX_PAGE}", "first")
    return value


def _kind(collection: str) -> str:
    kind = KIND_OF_COLLECTION.get(collection)
    if kind is None:
        raise NotFound(f"the catalogue holds {', '.join(KIND_OF_COLLECTION)}", "collection")
    return kind


def _speaks_for() -> tuple[str, ...]:
    return sources_of_caller(caller())


def _require_admin() -> None:
    if caller() != ADMIN_CALLER:
        raise Forbidden("this token may not use the admin path", "Authorization")


def _require_directory_writer() -> None:
    if caller() not in (ADMIN_CALLER, DIRECTORY):
        raise Forbidden("directory writes need the admin or the directory token", "Authorization")


def _check_employee_id(employee_id: str) -> None:
    if not employee_id.strip() or len(employee_id) > 128:
        raise ValidationError("must be 1 to 128 characters", "employee_id")
