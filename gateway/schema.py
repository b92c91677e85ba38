"""The GraphQL schema (graphene 3): the one public API of Cercle.

Resolvers are short: they call a service port through the request context and shape the
answer. Who may see what:
- `me`, `enps` and every mutation need a bearer token; a mutation always acts as the
  token's employee, never as an id passed in arguments; `adjustPoints` and
  `upsertEmployee` need the admin role.
- A ledger and badge progress are read by their employee or an admin only.
- Leaderboards, the badge catalogue and the public profile of an employee whose
  visibility is `visible` are readable by any authenticated employee (anonymously too in
  development, see `gateway.view`). An employee with a pseudonym appears under it, without
  their id; a hidden one appears nowhere (the points service leaves them out of boards,
  `employee(id)` answers null) except to themselves and admins.

`python -m gateway.schema` prints the SDL checked in as `gateway/schema.graphql`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import graphene
from graphql import FieldNode, GraphQLInt, GraphQLResolveInfo, value_from_ast

from cercle_common.envelope import format_instant, parse_instant
from cercle_common.errors import (
    CercleError,
    Forbidden,
    InfrastructureError,
    NotFound,
    ValidationError,
)
from cercle_common.identifiers import new_ulid
from gateway.context import RequestContext
from gateway.limits import MAX_AROUND_RADIUS
from gateway.pagination import Page, fetch_page
from gateway.ports import BoardQuery, Json

Info = GraphQLResolveInfo
EVENT_SOURCE = "gateway"
# Service calls a resolver starts ahead of need, so that independent calls overlap.
PARALLEL_CALLS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="gateway-call")


def ctx(info: Info) -> RequestContext:
    """The request context of a resolver."""
    context: RequestContext = info.context
    return context


# -- enums ------------------------------------------------------------------------------


class Period(graphene.Enum):
    """A period a leaderboard is cut by, in the organisation's time zone."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    ALL_TIME = "all"


class Scope(graphene.Enum):
    """Who a leaderboard ranks."""

    GLOBAL = "global"
    TEAM = "team"
    SITE = "site"


class TeamNormalization(graphene.Enum):
    """How teams are compared: total points, or points per active member."""

    TOTAL = "total"
    PER_ACTIVE_MEMBER = "per_active_member"


class Visibility(graphene.Enum):
    """How an employee appears on leaderboards."""

    VISIBLE = "visible"
    PSEUDONYM = "pseudonym"
    HIDDEN = "hidden"


class Network(graphene.Enum):
    """Where content was shared."""

    LINKEDIN = "linkedin"
    X = "x"
    FACEBOOK = "facebook"
    XING = "xing"
    INSTAGRAM = "instagram"
    OTHER = "other"


class SurveyKind(graphene.Enum):
    """The kind of survey question."""

    ENPS = "enps"
    PULSE = "pulse"
    TEXT = "text"


class Language(graphene.Enum):
    """Languages badge texts exist in."""

    FR = "fr"
    EN = "en"


# Default values of enum arguments, given as the enums' wire values.
ALL_TIME, GLOBAL, TOTAL = "all", "global", "total"


def _value(enum_member: Any, default: str) -> str:
    """The wire value of an enum argument (graphene 3 passes the Python enum member)."""
    if enum_member is None:
        return default
    return str(getattr(enum_member, "value", enum_member))


# -- views the resolvers read ----------------------------------------------------------


@dataclass(frozen=True)
class EmployeeView:
    """An employee as one caller may see them. `id` is None for an entry shown under a
    pseudonym; `full` is True for the employee themselves and admins; `vetted` is True
    when the directory already said the profile is public."""

    id: str | None
    full: bool = False
    pseudonym: str | None = None
    vetted: bool = False


@dataclass(frozen=True)
class EntryView:
    """One leaderboard entry."""

    rank: int | None
    points: int | None
    employee: EmployeeView
    is_me: bool
    # A hidden caller's own place, shown to them alone (no one else sees it on a board).
    only_visible_to_me: bool = False


@dataclass(frozen=True)
class BoardView:
    """A leaderboard page and the board it was cut from (for `aroundMe`), with the
    caller's rank already asked for when the query selects `aroundMe`."""

    board: BoardQuery
    page: Page
    entries: list[tuple[str, EntryView]]
    around: Future[Json] | None = None
    around_radius: int | None = None


def _or(value: int | None, default: int) -> int:
    """An integer argument, its default when the query passed an explicit null."""
    return default if value is None else value


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(value)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _instant(value: Any) -> datetime | None:
    try:
        return parse_instant(value, "at")
    except ValidationError:
        return None


def _read(key: str, coerce: Callable[[Any], Any]) -> Callable[[Json, Info], Any]:
    """A resolver that reads `key` of a service's JSON answer, as the field's type or null
    (a malformed answer blanks one field rather than failing the query)."""
    return lambda root, info: coerce(root.get(key))


def _text(texts: Any, lang: str) -> str | None:
    """A localised text (`{"fr": ..., "en": ...}`), falling back to any language."""
    if isinstance(texts, str):
        return texts
    if not isinstance(texts, dict):
        return None
    chosen = texts.get(lang) or next((t for t in texts.values() if isinstance(t, str)), None)
    return chosen if isinstance(chosen, str) else None


def _lang(info: Info, lang: Any) -> str:
    return _value(lang, ctx(info).lang)


def entry_view(context: RequestContext, entry: Json) -> EntryView:
    """An employee leaderboard entry as this caller may see it."""
    employee_id = entry.get("employee_id")
    employee_id = employee_id if isinstance(employee_id, str) else None
    pseudonym = _str(entry.get("pseudonym"))
    full = context.sees_all_of(employee_id)
    if employee_id is not None and (pseudonym is None or full):
        employee = EmployeeView(employee_id, full=full, pseudonym=pseudonym)
    else:
        # Shown under a pseudonym: the id would tie the pseudonym to the person.
        employee = EmployeeView(None, pseudonym=pseudonym)
    is_me = context.caller is not None and employee_id == context.caller.employee_id
    return EntryView(_int(entry.get("rank")), _int(entry.get("points")), employee, is_me)


# -- object types ----------------------------------------------------------------------


class PageInfo(graphene.ObjectType):
    """Where a page ends and whether more follows."""

    has_next_page = graphene.Boolean(required=True)
    end_cursor = graphene.String()


class EmployeePoints(graphene.ObjectType):
    """An employee's points in the current period of each kind."""

    all_time = graphene.Int()
    day = graphene.Int()
    week = graphene.Int()
    month = graphene.Int()
    quarter = graphene.Int()
    year = graphene.Int()


class BadgeTier(graphene.ObjectType):
    """One tier of a badge (bronze, silver, gold...) and what it takes."""

    tier = graphene.String(resolver=_read("tier", _str))
    threshold = graphene.Int(resolver=_read("threshold", _int))
    image_url = graphene.String(resolver=_read("image_url", _str))


class Badge(graphene.ObjectType):
    """A badge of the catalogue."""

    id = graphene.ID(required=True)
    kind = graphene.String(resolver=_read("kind", _str))
    name = graphene.String(lang=Language())
    description = graphene.String(lang=Language())
    tiers = graphene.List(graphene.NonNull(BadgeTier), required=True)

    @staticmethod
    def resolve_id(root: Json, info: Info) -> str:
        return str(root.get("id"))

    @staticmethod
    def resolve_name(root: Json, info: Info, lang: Any = None) -> str | None:
        return _text(root.get("name"), _lang(info, lang))

    @staticmethod
    def resolve_description(root: Json, info: Info, lang: Any = None) -> str | None:
        return _text(root.get("description"), _lang(info, lang))

    @staticmethod
    def resolve_tiers(root: Json, info: Info) -> list[Json]:
        tiers = root.get("tiers")
        return [t for t in tiers if isinstance(t, dict)] if isinstance(tiers, list) else []


def _catalogue_name(info: Info, badge_id: Any, lang: Any) -> str | None:
    catalogue = ctx(info).once(("catalogue",), ctx(info).services.badges.catalogue)
    badge = next((b for b in catalogue if b.get("id") == badge_id), None)
    return None if badge is None else _text(badge.get("name"), _lang(info, lang))


class BadgeAward(graphene.ObjectType):
    """A badge tier an employee was awarded (kept, marked revoked, if it was revoked)."""

    badge_id = graphene.ID(required=True)
    name = graphene.String(lang=Language())
    tier = graphene.String(resolver=_read("tier", _str))
    status = graphene.String(resolver=_read("status", _str))
    awarded_at = graphene.DateTime(resolver=_read("awarded_at", _instant))
    revoked_at = graphene.DateTime(resolver=_read("revoked_at", _instant))
    reason = graphene.String(resolver=_read("reason", _str))
    evidence = graphene.List(graphene.NonNull(graphene.ID))
    assertion_url = graphene.String(resolver=_read("assertion_url", _str))

    @staticmethod
    def resolve_badge_id(root: Json, info: Info) -> str:
        return str(root.get("badge_id"))

    @staticmethod
    def resolve_name(root: Json, info: Info, lang: Any = None) -> str | None:
        return _catalogue_name(info, root.get("badge_id"), lang)

    @staticmethod
    def resolve_evidence(root: Json, info: Info) -> list[str] | None:
        evidence = root.get("evidence")
        return [str(e) for e in evidence] if isinstance(evidence, list) else None


class BadgeProgress(graphene.ObjectType):
    """How far an employee is from a badge's next tier (e.g. 7 of 10 shares)."""

    badge_id = graphene.ID(required=True)
    name = graphene.String(lang=Language())
    current = graphene.Int(resolver=_read("current", _int))
    next_tier = graphene.String(resolver=_read("next_tier", _str))
    next_threshold = graphene.Int(resolver=_read("next_threshold", _int))

    @staticmethod
    def resolve_badge_id(root: Json, info: Info) -> str:
        return str(root.get("badge_id"))

    @staticmethod
    def resolve_name(root: Json, info: Info, lang: Any = None) -> str | None:
        return _catalogue_name(info, root.get("badge_id"), lang)


class LedgerEntry(graphene.ObjectType):
    """Points one event earned under one rule, and why."""

    id = graphene.ID(required=True)
    event_id = graphene.ID(resolver=_read("event_id", _str))
    event_type = graphene.String(resolver=_read("event_type", _str))
    rule_id = graphene.String(resolver=_read("rule_id", _str))
    rules_version = graphene.String(resolver=_read("rules_version", _str))
    points = graphene.Int(resolver=_read("points", _int))
    explanation = graphene.String(resolver=_read("explanation", _str))
    occurred_at = graphene.DateTime(resolver=_read("occurred_at", _instant))
    sequence = graphene.Int(resolver=_read("sequence", _int))

    @staticmethod
    def resolve_id(root: Json, info: Info) -> str:
        return str(root.get("id"))


class LedgerEdge(graphene.ObjectType):
    """A ledger entry and its cursor."""

    cursor = graphene.String(required=True)
    node = graphene.Field(LedgerEntry, required=True)


class LedgerConnection(graphene.ObjectType):
    """A page of a ledger, newest first."""

    edges = graphene.List(graphene.NonNull(LedgerEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)

    @staticmethod
    def resolve_edges(root: Page, info: Info) -> list[dict[str, Any]]:
        return [{"cursor": cursor, "node": entry} for cursor, entry in root.entries]

    @staticmethod
    def resolve_page_info(root: Page, info: Info) -> dict[str, Any]:
        return {"has_next_page": root.has_next_page, "end_cursor": root.end_cursor}


def _directory_entry(info: Info, view: EmployeeView) -> Json | None:
    """The directory entry behind a view, if this caller may read it."""
    if view.id is None:
        return None
    record = ctx(info).directory.get(view.id)
    if record is None or view.full or view.vetted:
        return record
    return record if record.get("visibility") == "visible" else None


def _board_arguments() -> dict[str, Any]:
    return {
        "period": Period(default_value=ALL_TIME),
        "at": graphene.Date(description="A day in the period; today when omitted."),
        "scope": Scope(default_value=GLOBAL),
        "team_id": graphene.ID(),
        "site_id": graphene.ID(),
    }


def _board(
    info: Info,
    period: Any,
    at: date | None,
    scope: Any,
    team_id: str | None,
    site_id: str | None,
) -> BoardQuery:
    kind = _value(scope, "global")
    caller = ctx(info).caller
    if kind in ("team", "site") and not (team_id if kind == "team" else site_id) and caller:
        # Without an id, a team or site board is the caller's own.
        own = ctx(info).directory.get(caller.employee_id) or {}
        team_id = team_id or _str(own.get("team")) if kind == "team" else team_id
        site_id = site_id or _str(own.get("site")) if kind == "site" else site_id
    board = BoardQuery(_value(period, "all"), at, kind, team_id, site_id)
    if board.scope == "team" and not board.team_id:
        raise ValidationError("is required when scope is TEAM", "teamId")
    if board.scope == "site" and not board.site_id:
        raise ValidationError("is required when scope is SITE", "siteId")
    return board


class Employee(graphene.ObjectType):
    """An employee as the caller may see them. Personal fields are null when the
    employee chose a pseudonym (or to be hidden) and the caller is someone else."""

    id = graphene.ID(description="Null when the employee appears under a pseudonym.")
    display_name = graphene.String(
        description="The directory's name, or the pseudonym the employee chose."
    )
    pseudonym = graphene.String(description="Only for the employee themselves and admins.")
    visibility = graphene.Field(
        Visibility, description="Only for the employee themselves and admins."
    )
    team = graphene.String()
    department = graphene.String()
    site = graphene.String()
    country = graphene.String()
    locale = graphene.String()
    fte = graphene.Float(description="Only for the employee themselves and admins.")
    active = graphene.Boolean()
    points = graphene.Field(EmployeePoints)
    rank = graphene.Int(
        period=Period(default_value=ALL_TIME),
        at=graphene.Date(),
        scope=Scope(default_value=GLOBAL),
    )
    badges = graphene.List(graphene.NonNull(BadgeAward))
    badge_progress = graphene.List(
        graphene.NonNull(BadgeProgress),
        description="Progress to each badge's next tier: the employee themselves and admins.",
    )
    ledger = graphene.Field(
        LedgerConnection,
        first=graphene.Int(default_value=20),
        after=graphene.String(),
        description="Why the employee has their points: the employee themselves and admins.",
    )

    @staticmethod
    def resolve_id(root: EmployeeView, info: Info) -> str | None:
        if root.id is None or root.full or root.vetted:
            return root.id
        return root.id if _directory_entry(info, root) is not None else None

    @staticmethod
    def resolve_display_name(root: EmployeeView, info: Info) -> str | None:
        if root.id is None:
            return root.pseudonym
        record = ctx(info).directory.get(root.id)
        if record is None:
            return root.pseudonym
        visibility = record.get("visibility")
        if visibility == "pseudonym":
            return _str(record.get("pseudonym")) or root.pseudonym
        if visibility != "visible" and not root.full:
            return None
        return _str(record.get("display_name"))

    @staticmethod
    def resolve_pseudonym(root: EmployeeView, info: Info) -> str | None:
        record = _directory_entry(info, root) if root.full else None
        return None if record is None else _str(record.get("pseudonym"))

    @staticmethod
    def resolve_visibility(root: EmployeeView, info: Info) -> str | None:
        record = _directory_entry(info, root) if root.full else None
        return None if record is None else _str(record.get("visibility"))

    @staticmethod
    def resolve_fte(root: EmployeeView, info: Info) -> float | None:
        record = _directory_entry(info, root) if root.full else None
        return None if record is None else _float(record.get("fte"))

    @staticmethod
    def resolve_team(root: EmployeeView, info: Info) -> str | None:
        return _str((_directory_entry(info, root) or {}).get("team"))

    @staticmethod
    def resolve_department(root: EmployeeView, info: Info) -> str | None:
        return _str((_directory_entry(info, root) or {}).get("department"))

    @staticmethod
    def resolve_site(root: EmployeeView, info: Info) -> str | None:
        return _str((_directory_entry(info, root) or {}).get("site"))

    @staticmethod
    def resolve_country(root: EmployeeView, info: Info) -> str | None:
        return _str((_directory_entry(info, root) or {}).get("country"))

    @staticmethod
    def resolve_locale(root: EmployeeView, info: Info) -> str | None:
        return _str((_directory_entry(info, root) or {}).get("locale"))

    @staticmethod
    def resolve_active(root: EmployeeView, info: Info) -> bool | None:
        active = (_directory_entry(info, root) or {}).get("active")
        return active if isinstance(active, bool) else None

    @staticmethod
    def resolve_points(root: EmployeeView, info: Info) -> dict[str, int | None] | None:
        if _visible_id(info, root) is None:
            return None
        try:
            answer = ctx(info).services.points.employee_points(root.id or "")
        except NotFound:
            return None
        given = answer.get("points")
        points: Json = given if isinstance(given, dict) else {}
        return {
            "all_time": _int(points.get("all")),
            **{
                kind: _int(points.get(kind)) for kind in ("day", "week", "month", "quarter", "year")
            },
        }

    @staticmethod
    def resolve_rank(
        root: EmployeeView,
        info: Info,
        period: Any = None,
        at: date | None = None,
        scope: Any = None,
    ) -> int | None:
        employee_id = _visible_id(info, root)
        if employee_id is None:
            return None
        record = _directory_entry(info, root) or {}
        board = BoardQuery(
            _value(period, "all"),
            at,
            _value(scope, "global"),
            _str(record.get("team")),
            _str(record.get("site")),
        )
        if (board.scope == "team" and not board.team_id) or (
            board.scope == "site" and not board.site_id
        ):
            return None
        try:
            answer = ctx(info).services.points.around(employee_id, board, 0)
        except NotFound:
            return None
        return _int(answer.get("rank"))

    @staticmethod
    def resolve_badges(root: EmployeeView, info: Info) -> list[Json] | None:
        answer = _badges_of(info, root)
        if answer is None:
            return None
        awards = answer.get("awards")
        return [a for a in awards if isinstance(a, dict)] if isinstance(awards, list) else []

    @staticmethod
    def resolve_badge_progress(root: EmployeeView, info: Info) -> list[Json] | None:
        _require_full(info, root, "badge progress")
        answer = _badges_of(info, root)
        if answer is None:
            return None
        progress = answer.get("progress")
        return [p for p in progress if isinstance(p, dict)] if isinstance(progress, list) else []

    @staticmethod
    def resolve_ledger(
        root: EmployeeView, info: Info, first: int | None = 20, after: str | None = None
    ) -> Page:
        _require_full(info, root, "ledger")
        employee_id = root.id or ""
        points = ctx(info).services.points
        return fetch_page(
            lambda n, cursor: points.ledger(employee_id, n, cursor), _or(first, 20), after
        )


def _visible_id(info: Info, view: EmployeeView) -> str | None:
    if view.id is None:
        return None
    if view.full or view.vetted:
        return view.id
    return view.id if _directory_entry(info, view) is not None else None


def _require_full(info: Info, view: EmployeeView, what: str) -> None:
    ctx(info).require_caller()
    if not view.full:
        raise Forbidden(f"only the employee and admins may read this {what}")


def _badges_of(info: Info, view: EmployeeView) -> Json | None:
    employee_id = _visible_id(info, view)
    if employee_id is None:
        return None
    badges = ctx(info).services.badges

    def fetch() -> Json | None:
        try:
            return badges.employee_badges(employee_id)
        except NotFound:
            return None

    return ctx(info).once(("badges", employee_id), fetch)


class LeaderboardEntry(graphene.ObjectType):
    """A rank on a leaderboard."""

    rank = graphene.Int()
    points = graphene.Int()
    employee = graphene.Field(Employee)
    is_me = graphene.Boolean(required=True, description="True for the caller's own entry.")
    only_visible_to_me = graphene.Boolean(
        required=True,
        description=(
            "True for a hidden caller's own place in `aroundMe`: where they would stand,"
            " which no one else sees (the others' ranks do not count them)."
        ),
    )

    @staticmethod
    def resolve_rank(root: EntryView, info: Info) -> int | None:
        return root.rank

    @staticmethod
    def resolve_points(root: EntryView, info: Info) -> int | None:
        return root.points

    @staticmethod
    def resolve_employee(root: EntryView, info: Info) -> EmployeeView:
        return root.employee

    @staticmethod
    def resolve_is_me(root: EntryView, info: Info) -> bool:
        return root.is_me

    @staticmethod
    def resolve_only_visible_to_me(root: EntryView, info: Info) -> bool:
        return root.only_visible_to_me


class LeaderboardEdge(graphene.ObjectType):
    """A leaderboard entry and its cursor."""

    cursor = graphene.String(required=True)
    node = graphene.Field(LeaderboardEntry, required=True)


class AroundMe(graphene.ObjectType):
    """The caller's rank on a leaderboard and their neighbours."""

    rank = graphene.Int(resolver=_read("rank", _int))
    points = graphene.Int(resolver=_read("points", _int))
    entries = graphene.List(graphene.NonNull(LeaderboardEntry), required=True)

    @staticmethod
    def resolve_entries(root: Json, info: Info) -> list[EntryView]:
        return list(root["views"])


class LeaderboardConnection(graphene.ObjectType):
    """A page of an employee leaderboard, best first (ties: who got there first)."""

    edges = graphene.List(graphene.NonNull(LeaderboardEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)
    total_count = graphene.Int()
    period_key = graphene.String(description="The period ranked, e.g. 2026-W48.")
    around_me = graphene.Field(
        AroundMe,
        radius=graphene.Int(default_value=2),
        description="The caller's rank and neighbours on this board (null when anonymous"
        " or not ranked).",
    )

    @staticmethod
    def resolve_edges(root: BoardView, info: Info) -> list[dict[str, Any]]:
        return [{"cursor": cursor, "node": view} for cursor, view in root.entries]

    @staticmethod
    def resolve_page_info(root: BoardView, info: Info) -> dict[str, Any]:
        return {"has_next_page": root.page.has_next_page, "end_cursor": root.page.end_cursor}

    @staticmethod
    def resolve_total_count(root: BoardView, info: Info) -> int | None:
        return _int(root.page.answer.get("total_count"))

    @staticmethod
    def resolve_period_key(root: BoardView, info: Info) -> str | None:
        return _str(root.page.answer.get("period_key"))

    @staticmethod
    def resolve_around_me(root: BoardView, info: Info, radius: int | None = 2) -> Json | None:
        context = ctx(info)
        radius = _or(radius, 2)
        if context.caller is None:
            return None
        if not 0 <= radius <= MAX_AROUND_RADIUS:
            raise ValidationError(f"must be between 0 and {MAX_AROUND_RADIUS}", "radius")
        caller_id = context.caller.employee_id
        try:
            if root.around is not None and root.around_radius == radius:
                answer = root.around.result()
            else:
                answer = context.services.points.around(caller_id, root.board, radius)
        except NotFound:
            return None
        given = answer.get("entries")
        entries: list[Any] = given if isinstance(given, list) else []
        views = [entry_view(context, e) for e in entries if isinstance(e, dict)]
        own_rank = _int(answer.get("rank"))
        me = EmployeeView(caller_id, full=True)
        if answer.get("listed", True):
            # The caller's own entry may be shown under their pseudonym, without their id.
            views = [
                EntryView(view.rank, view.points, me, True)
                if view.rank is not None and view.rank == own_rank
                else EntryView(view.rank, view.points, view.employee, False)
                for view in views
            ]
        else:
            # Hidden: not on the board, so the entry at their rank is someone else's. They
            # see their own place inserted there, marked as theirs alone.
            views = [EntryView(v.rank, v.points, v.employee, False) for v in views]
            place = next(
                (n for n, v in enumerate(views) if own_rank is None or (v.rank or 0) >= own_rank),
                len(views),
            )
            own = EntryView(own_rank, _int(answer.get("points")), me, True, True)
            views.insert(place, own)
        context.directory.want(v.employee.id for v in views)
        return {**answer, "views": views}


def _selected_around_radius(info: Info) -> int | None:
    """The radius of `aroundMe` when the query selects it directly under this field
    (None otherwise, or when it is out of range: the resolver then says why)."""
    selection_set = info.field_nodes[0].selection_set
    if selection_set is None:
        return None
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode) and selection.name.value == "aroundMe":
            radius = 2
            for argument in selection.arguments:
                if argument.name.value == "radius":
                    given = value_from_ast(argument.value, GraphQLInt, info.variable_values)
                    radius = 2 if given is None else given
            if isinstance(radius, int) and 0 <= radius <= MAX_AROUND_RADIUS:
                return radius
            return None
    return None


class TeamEntry(graphene.ObjectType):
    """A team's rank."""

    rank = graphene.Int(resolver=_read("rank", _int))
    team_id = graphene.ID(resolver=_read("team_id", _str))
    points = graphene.Int(resolver=_read("points", _int))
    active_members = graphene.Int(resolver=_read("active_members", _int))
    score = graphene.Float(
        description="What teams are ranked by: total or per active member.",
        resolver=_read("score", _float),
    )


class TeamLeaderboardEdge(graphene.ObjectType):
    """A team entry and its cursor."""

    cursor = graphene.String(required=True)
    node = graphene.Field(TeamEntry, required=True)


class TeamLeaderboardConnection(graphene.ObjectType):
    """A page of the team leaderboard."""

    edges = graphene.List(graphene.NonNull(TeamLeaderboardEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)
    total_count = graphene.Int()
    period_key = graphene.String()

    @staticmethod
    def resolve_edges(root: Page, info: Info) -> list[dict[str, Any]]:
        return [{"cursor": cursor, "node": entry} for cursor, entry in root.entries]

    @staticmethod
    def resolve_page_info(root: Page, info: Info) -> dict[str, Any]:
        return {"has_next_page": root.has_next_page, "end_cursor": root.end_cursor}

    @staticmethod
    def resolve_total_count(root: Page, info: Info) -> int | None:
        return _int(root.answer.get("total_count"))

    @staticmethod
    def resolve_period_key(root: Page, info: Info) -> str | None:
        return _str(root.answer.get("period_key"))


class Enps(graphene.ObjectType):
    """eNPS of a survey for a group. Below the anonymity threshold there are no figures,
    only `tooFewAnswers`."""

    survey_id = graphene.ID(required=True)
    too_few_answers = graphene.Boolean(required=True)
    min_group = graphene.Int(description="The anonymity threshold, when the service says it.")
    n = graphene.Int()
    promoters = graphene.Float(
        description="Percent of answers.", resolver=_read("promoters", _float)
    )
    passives = graphene.Float(description="Percent of answers.", resolver=_read("passives", _float))
    detractors = graphene.Float(
        description="Percent of answers.", resolver=_read("detractors", _float)
    )
    enps = graphene.Float(resolver=_read("enps", _float))

    @staticmethod
    def resolve_survey_id(root: Json, info: Info) -> str:
        return str(root.get("survey_id"))

    @staticmethod
    def resolve_too_few_answers(root: Json, info: Info) -> bool:
        return bool(root.get("too_few_answers")) or _float(root.get("enps")) is None

    @staticmethod
    def resolve_min_group(root: Json, info: Info) -> int | None:
        return _int(root.get("min_group", root.get("threshold")))

    @staticmethod
    def resolve_n(root: Json, info: Info) -> int | None:
        return None if Enps.resolve_too_few_answers(root, info) else _int(root.get("n"))


# -- queries ---------------------------------------------------------------------------


class Query(graphene.ObjectType):
    """Everything front-end apps read."""

    me = graphene.Field(Employee, description="The caller's own profile (needs a token).")
    employee = graphene.Field(
        Employee,
        id=graphene.ID(required=True),
        description="An employee's profile: null when unknown, or not public to the caller.",
    )
    leaderboard = graphene.Field(
        LeaderboardConnection,
        **_board_arguments(),
        first=graphene.Int(default_value=10),
        after=graphene.String(),
    )
    team_leaderboard = graphene.Field(
        TeamLeaderboardConnection,
        period=Period(default_value=ALL_TIME),
        at=graphene.Date(),
        normalize=TeamNormalization(default_value=TOTAL),
        first=graphene.Int(default_value=10),
        after=graphene.String(),
    )
    badges = graphene.List(graphene.NonNull(Badge), description="The badge catalogue.")
    enps = graphene.Field(
        Enps,
        survey_id=graphene.ID(required=True),
        team_id=graphene.ID(),
        site_id=graphene.ID(),
        from_=graphene.Date(name="from"),
        to=graphene.Date(),
        description="Needs a token. No figures for a group under the anonymity threshold.",
    )

    @staticmethod
    def resolve_me(root: None, info: Info) -> EmployeeView:
        caller = ctx(info).require_caller()
        return EmployeeView(caller.employee_id, full=True)

    @staticmethod
    def resolve_employee(root: None, info: Info, id: str) -> EmployeeView | None:
        context = ctx(info)
        if context.sees_all_of(id):
            return EmployeeView(id, full=True)
        record = context.directory.get(id)
        if record is None or record.get("visibility") != "visible" or not record.get("active"):
            return None
        return EmployeeView(id, vetted=True)

    @staticmethod
    def resolve_leaderboard(
        root: None,
        info: Info,
        period: Any = None,
        at: date | None = None,
        scope: Any = None,
        team_id: str | None = None,
        site_id: str | None = None,
        first: int | None = 10,
        after: str | None = None,
    ) -> BoardView:
        context = ctx(info)
        board = _board(info, period, at, scope, team_id, site_id)
        points = context.services.points
        # The caller's rank does not depend on the page: ask for both at once.
        radius = _selected_around_radius(info)
        around = None
        if radius is not None and context.caller is not None:
            caller_id = context.caller.employee_id
            around = PARALLEL_CALLS.submit(points.around, caller_id, board, radius)
        page = fetch_page(
            lambda n, cursor: points.leaderboard(board, n, cursor), _or(first, 10), after
        )
        views = [(cursor, entry_view(context, entry)) for cursor, entry in page.entries]
        # One directory call for the whole page, made when a name is first read.
        context.directory.want(view.employee.id for _, view in views)
        return BoardView(board, page, views, around, radius)

    @staticmethod
    def resolve_team_leaderboard(
        root: None,
        info: Info,
        period: Any = None,
        at: date | None = None,
        normalize: Any = None,
        first: int | None = 10,
        after: str | None = None,
    ) -> Page:
        points = ctx(info).services.points
        period_value, normalized = _value(period, "all"), _value(normalize, "total")
        return fetch_page(
            lambda n, cursor: points.team_leaderboard(period_value, at, normalized, n, cursor),
            _or(first, 10),
            after,
        )

    @staticmethod
    def resolve_badges(root: None, info: Info) -> list[Json]:
        return ctx(info).once(("catalogue",), ctx(info).services.badges.catalogue)

    @staticmethod
    def resolve_enps(
        root: None,
        info: Info,
        survey_id: str,
        team_id: str | None = None,
        site_id: str | None = None,
        from_: date | None = None,
        to: date | None = None,
    ) -> Json | None:
        context = ctx(info)
        context.require_caller()
        if from_ is not None and to is not None and from_ > to:
            raise ValidationError("must not be after `to`", "from")
        try:
            answer = context.services.events.enps(survey_id, team_id, site_id, from_, to)
        except NotFound:
            return None
        return {"survey_id": survey_id, **answer}


# -- mutations -------------------------------------------------------------------------


class Event(graphene.ObjectType):
    """An event as the events service recorded it."""

    id = graphene.ID(required=True)
    type = graphene.String(required=True)
    occurred_at = graphene.DateTime(resolver=_read("occurred_at", _instant))
    accepted_at = graphene.DateTime(resolver=_read("accepted_at", _instant))
    employee_id = graphene.ID(resolver=_read("employee_id", _str))
    source = graphene.String(resolver=_read("source", _str))
    sequence = graphene.Int(
        description="The events service's accept order.", resolver=_read("sequence", _int)
    )
    data = graphene.JSONString()

    @staticmethod
    def resolve_id(root: Json, info: Info) -> str:
        return str(root.get("id"))

    @staticmethod
    def resolve_type(root: Json, info: Info) -> str:
        return str(root.get("type"))

    @staticmethod
    def resolve_data(root: Json, info: Info) -> Any:
        data = root.get("data")
        return data if isinstance(data, dict) else None


class FieldError(graphene.ObjectType):
    """Why an input was refused, naming the input field by its path (`input.network`)."""

    field = graphene.String()
    code = graphene.String(required=True)
    message = graphene.String(required=True)


class RecordEventPayload(graphene.ObjectType):
    """The recorded event, or the errors that kept it from being recorded."""

    event = graphene.Field(Event)
    errors = graphene.List(graphene.NonNull(FieldError), required=True)


class EventInput:
    """Fields every action input has."""

    event_id = graphene.ID(
        description="Idempotency key: retrying with the same id (and the same occurredAt)"
        " records the event once. A ULID is chosen when omitted."
    )
    occurred_at = graphene.DateTime(description="When it happened; now when omitted.")


class RecordShareInput(graphene.InputObjectType, EventInput):
    """Content the caller shared on a social network."""

    content_id = graphene.ID(required=True)
    network = Network(required=True)
    url = graphene.String(required=True)
    tags = graphene.List(graphene.NonNull(graphene.String))


class CompleteCourseInput(graphene.InputObjectType, EventInput):
    """A digital-skills course the caller completed."""

    course_id = graphene.ID(required=True)
    track = graphene.String(required=True)
    score = graphene.Int(required=True, description="0 to 100.")
    duration_minutes = graphene.Int(required=True)


class AnswerSurveyInput(graphene.InputObjectType, EventInput):
    """The caller's answer to a survey question: `score` for ENPS (0-10) and PULSE
    questions, `text` for TEXT ones. The answer never leaves the events service."""

    survey_id = graphene.ID(required=True)
    question_id = graphene.ID(required=True)
    kind = SurveyKind(required=True)
    score = graphene.Int()
    text = graphene.String()


class AcknowledgeCharterInput(graphene.InputObjectType, EventInput):
    """The caller signed a version of the social-media charter."""

    charter_id = graphene.ID(required=True)
    version = graphene.String(required=True)


class AdjustPointsInput(graphene.InputObjectType, EventInput):
    """An admin's correction of an employee's points, with the reason."""

    employee_id = graphene.ID(required=True)
    points = graphene.Int(required=True)
    reason = graphene.String(required=True)


class UpsertEmployeeInput(graphene.InputObjectType):
    """A directory entry (admin): created, or replaced as a whole."""

    id = graphene.ID(required=True)
    display_name = graphene.String(required=True)
    email = graphene.String(required=True)
    team = graphene.String()
    department = graphene.String()
    site = graphene.String()
    country = graphene.String()
    locale = graphene.String()
    fte = graphene.Float()
    visibility = Visibility()
    pseudonym = graphene.String()
    active = graphene.Boolean()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def input_path(field: str | None, renames: dict[str, str] | None = None) -> str | None:
    """The GraphQL input path of a field the events service named (`data.content_id` →
    `input.contentId`); None for fields the caller did not give (their own id)."""
    if field is None:
        return None
    renames = {"id": "eventId", **(renames or {})}
    if field in renames:
        renamed = renames[field]
        return None if renamed == "" else f"input.{renamed}"
    bare = field.removeprefix("data.")
    return "input." + ".".join(_camel(part) for part in bare.split("."))


def field_error(error: CercleError, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """A refused input as a `FieldError`."""
    return {"field": input_path(error.field, renames), "code": error.code, "message": error.message}


def envelope(employee_id: str, event_type: str, data: Json, given: Any) -> Json:
    """The envelope of an action the gateway records."""
    occurred_at = given.get("occurred_at") or datetime.now(UTC)
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    try:
        instant = format_instant(occurred_at)
    except OverflowError:
        # No UTC equivalent (year 1 ahead of UTC): sent as given, for the events service
        # to refuse naming the field, as it refuses every other bad instant.
        instant = occurred_at.isoformat()
    return {
        "id": given.get("event_id") or new_ulid(),
        "type": event_type,
        "schema_version": 1,
        "occurred_at": instant,
        "employee_id": employee_id,
        "source": EVENT_SOURCE,
        "data": data,
    }


def record(
    info: Info,
    body: Json,
    admin: bool = False,
    renames: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Send an event to the events service; its refusal becomes field errors, an outage
    a GraphQL error on the mutation."""
    events = ctx(info).services.events
    try:
        stored = events.record_admin_event(body) if admin else events.record_event(body)
    except InfrastructureError:
        raise
    except CercleError as error:
        return {"event": None, "errors": [field_error(error, renames)]}
    return {"event": stored, "errors": []}


# The caller's own id is never an input: an error about it is not about a field.
_CALLER = {"employee_id": ""}


class RecordShare(graphene.Mutation):
    """Record that the caller shared content."""

    class Arguments:
        input = RecordShareInput(required=True)

    Output = RecordEventPayload

    @staticmethod
    def mutate(root: None, info: Info, input: Any) -> dict[str, Any]:
        caller = ctx(info).require_caller()
        data: Json = {
            "content_id": input.content_id,
            "network": _value(input.network, "other"),
            "url": input.url,
        }
        if input.get("tags") is not None:
            data["tags"] = list(input.tags)
        body = envelope(caller.employee_id, "content.shared", data, input)
        return record(info, body, renames=_CALLER)


class CompleteCourse(graphene.Mutation):
    """Record that the caller completed a course."""

    class Arguments:
        input = CompleteCourseInput(required=True)

    Output = RecordEventPayload

    @staticmethod
    def mutate(root: None, info: Info, input: Any) -> dict[str, Any]:
        caller = ctx(info).require_caller()
        data = {
            "course_id": input.course_id,
            "track": input.track,
            "score": input.score,
            "duration_minutes": input.duration_minutes,
        }
        body = envelope(caller.employee_id, "course.completed", data, input)
        return record(info, body, renames=_CALLER)


class AnswerSurvey(graphene.Mutation):
    """Record the caller's answer to a survey question."""

    class Arguments:
        input = AnswerSurveyInput(required=True)

    Output = RecordEventPayload

    @staticmethod
    def mutate(root: None, info: Info, input: Any) -> dict[str, Any]:
        caller = ctx(info).require_caller()
        kind = _value(input.kind, "text")
        answer_field = "text" if kind == "text" else "score"
        value = input.get(answer_field)
        if value is None:
            error = ValidationError(f"is required for {kind.upper()} questions", answer_field)
            return {"event": None, "errors": [field_error(error)]}
        data = {
            "survey_id": input.survey_id,
            "question_id": input.question_id,
            "kind": kind,
            "value": value,
        }
        body = envelope(caller.employee_id, "survey.answered", data, input)
        return record(info, body, renames={**_CALLER, "data.value": answer_field})


class AcknowledgeCharter(graphene.Mutation):
    """Record that the caller signed the social-media charter."""

    class Arguments:
        input = AcknowledgeCharterInput(required=True)

    Output = RecordEventPayload

    @staticmethod
    def mutate(root: None, info: Info, input: Any) -> dict[str, Any]:
        caller = ctx(info).require_caller()
        data = {"charter_id": input.charter_id, "version": input.version}
        body = envelope(caller.employee_id, "charter.acknowledged", data, input)
        return record(info, body, renames=_CALLER)


class AdjustPoints(graphene.Mutation):
    """Correct an employee's points (admin)."""

    class Arguments:
        input = AdjustPointsInput(required=True)

    Output = RecordEventPayload

    @staticmethod
    def mutate(root: None, info: Info, input: Any) -> dict[str, Any]:
        ctx(info).require_admin()
        data = {"points": input.points, "reason": input.reason}
        body = envelope(input.employee_id, "points.adjusted", data, input)
        return record(info, body, admin=True)


class UpsertEmployeePayload(graphene.ObjectType):
    """The directory entry as stored, or the errors that kept it from being stored."""

    employee = graphene.Field(Employee)
    errors = graphene.List(graphene.NonNull(FieldError), required=True)


class UpsertEmployee(graphene.Mutation):
    """Create or replace a directory entry (admin)."""

    class Arguments:
        input = UpsertEmployeeInput(required=True)

    Output = UpsertEmployeePayload

    @staticmethod
    def mutate(root: None, info: Info, input: Any) -> dict[str, Any]:
        ctx(info).require_admin()
        employee_id = input.id
        body = {
            name: _value(value, "") if name == "visibility" else value
            for name, value in input.items()
            if name != "id" and value is not None
        }
        try:
            ctx(info).services.events.upsert_employee(employee_id, body)
        except InfrastructureError:
            raise
        except CercleError as error:
            return {"employee": None, "errors": [field_error(error)]}
        return {"employee": EmployeeView(employee_id, full=True), "errors": []}


class Mutation(graphene.ObjectType):
    """Actions. Each acts as the token's employee; the last two need the admin role."""

    record_share = RecordShare.Field()
    complete_course = CompleteCourse.Field()
    answer_survey = AnswerSurvey.Field()
    acknowledge_charter = AcknowledgeCharter.Field()
    adjust_points = AdjustPoints.Field()
    upsert_employee = UpsertEmployee.Field()


schema = graphene.Schema(query=Query, mutation=Mutation)


def sdl() -> str:
    """The schema in SDL, as checked in at `gateway/schema.graphql`."""
    return str(schema).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(sdl())
