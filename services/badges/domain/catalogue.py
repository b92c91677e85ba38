"""Badge definitions: what each badge rewards, its tiers, in French and English.

The catalogue is data (YAML in the repository); `parse_catalogue` turns its plain mapping
into frozen definitions and refuses anything unclear with an error naming the entry by its
path (`badges[3].tiers[1].threshold`), so a bad catalogue stops a process at start."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cercle_common.errors import NotFound, ValidationError

FIRST = "first"
COUNT = "count"
POINTS = "points"
STREAK = "streak"
PERIODIC = "periodic"
SET = "set"
CHALLENGE = "challenge"
CHARTER = "charter"
KINDS = (FIRST, COUNT, POINTS, STREAK, PERIODIC, SET, CHALLENGE, CHARTER)

# Kinds whose tiers are implied: one tier, reached once the criterion holds.
SINGLE_TIER_KINDS = (FIRST, CHARTER, SET, CHALLENGE)
SINGLE_TIER = "standard"

STREAK_PERIODS = ("day", "week", "month")
POINTS_SCOPES = ("all", "week", "month", "quarter", "year")
CHARTER_TYPE = "charter.acknowledged"
COURSE_TYPE = "course.completed"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
LANGUAGES = ("fr", "en")


class CatalogueError(ValidationError):
    """The badge catalogue breaks its schema; `field` is the path of the faulty entry."""

    code = "invalid_catalogue"


@dataclass(frozen=True)
class Text:
    """A text in both languages of the organisation."""

    fr: str
    en: str

    def as_dict(self) -> dict[str, str]:
        """`{"fr": ..., "en": ...}`."""
        return {"fr": self.fr, "en": self.en}


@dataclass(frozen=True)
class Tier:
    """A level of a badge, reached at `threshold` (events, points, periods...)."""

    tier: str
    threshold: int


@dataclass(frozen=True)
class EventFilter:
    """Which events count: one of `types`, and every `data` field equal to the value given."""

    types: frozenset[str]
    data: tuple[tuple[str, Any], ...] = ()

    def matches(self, event_type: str, data: Mapping[str, Any]) -> bool:
        """True when an event of this type with this data counts."""
        if event_type not in self.types:
            return False
        return all(data.get(name) == value for name, value in self.data)


@dataclass(frozen=True)
class ChallengeRules:
    """A time-boxed challenge: matching events with `start <= occurred_at < end` count;
    `first_k` winners (None: everyone who reaches the target), individuals or teams."""

    start: datetime
    end: datetime
    team: bool
    first_k: int | None


@dataclass(frozen=True)
class BadgeDefinition:
    """One badge of the catalogue. Which optional fields are set depends on `kind`."""

    id: str
    kind: str
    name: Text
    description: Text
    tiers: tuple[Tier, ...]
    filter: EventFilter | None = None
    distinct: str | None = None
    period: str | None = None
    min_points: int | None = None
    courses: tuple[str, ...] = ()
    challenge: ChallengeRules | None = None

    def tier(self, name: str) -> Tier:
        """The tier called `name`; `NotFound` otherwise."""
        for tier in self.tiers:
            if tier.tier == name:
                return tier
        raise NotFound(f"badge {self.id!r} has no tier {name!r}", "tier")

    def tier_rank(self, name: str) -> int:
        """0 for the lowest tier, growing with the threshold."""
        return [tier.tier for tier in self.tiers].index(name)

    @property
    def uses_events(self) -> bool:
        """True when the badge is earned from events (not from the points ledger)."""
        return self.filter is not None


@dataclass(frozen=True)
class Issuer:
    """Who issues the badges, as shown in Open Badges."""

    name: str
    url: str
    email: str
    description: str


@dataclass(frozen=True)
class Catalogue:
    """The badges on offer, in catalogue order."""

    version: str
    issuer: Issuer
    badges: tuple[BadgeDefinition, ...]

    def get(self, badge_id: str) -> BadgeDefinition:
        """The badge with this id; `NotFound` otherwise."""
        for badge in self.badges:
            if badge.id == badge_id:
                return badge
        raise NotFound(f"no badge {badge_id!r}", "badge_id")

    def of_kind(self, *kinds: str) -> tuple[BadgeDefinition, ...]:
        """The badges of these kinds."""
        return tuple(badge for badge in self.badges if badge.kind in kinds)

    def period_kinds(self) -> frozenset[str]:
        """The period kinds the points totals must be kept for (`month` for periodic)."""
        kinds = {badge.period or "all" for badge in self.of_kind(POINTS)}
        if self.of_kind(PERIODIC):
            kinds.add("month")
        return frozenset(kinds - {"all"})


def parse_catalogue(raw: Any) -> Catalogue:
    """Validate a catalogue read from YAML/JSON; raises `CatalogueError` naming the path."""
    root = _mapping(raw, "")
    version = str(root.get("version", "1"))
    issuer = _issuer(root.get("issuer"), "issuer")
    entries = root.get("badges")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError("must be a non-empty list of badges", "badges")
    badges = tuple(_badge(entry, f"badges[{index}]") for index, entry in enumerate(entries))
    seen: set[str] = set()
    for index, badge in enumerate(badges):
        if badge.id in seen:
            raise CatalogueError(f"duplicate badge id {badge.id!r}", f"badges[{index}].id")
        seen.add(badge.id)
    return Catalogue(version=version, issuer=issuer, badges=badges)


def _issuer(raw: Any, path: str) -> Issuer:
    body = _mapping(raw, path)
    return Issuer(
        name=_text_field(body, "name", path),
        url=_text_field(body, "url", path),
        email=_text_field(body, "email", path),
        description=str(body.get("description", "")),
    )


def _badge(raw: Any, path: str) -> BadgeDefinition:
    body = _mapping(raw, path)
    badge_id = _text_field(body, "id", path)
    if not ID_PATTERN.match(badge_id):
        raise CatalogueError("must be lowercase letters, digits and dashes", f"{path}.id")
    kind = _text_field(body, "kind", path)
    if kind not in KINDS:
        raise CatalogueError(f"unknown kind {kind!r}; expected one of {KINDS}", f"{path}.kind")
    name = _translated(body.get("name"), f"{path}.name")
    description = _translated(body.get("description"), f"{path}.description")
    known = {"id", "kind", "name", "description", "tiers", "criteria", *_KIND_FIELDS[kind]}
    for key in body:
        if key not in known:
            raise CatalogueError(f"not a field of a {kind} badge", f"{path}.{key}")
    head = {"id": badge_id, "kind": kind, "name": name, "description": description}
    return _KIND_PARSERS[kind](body, path, head)


def _first(body: Mapping[str, Any], path: str, head: dict[str, Any]) -> BadgeDefinition:
    event_filter = _filter(body.get("criteria"), f"{path}.criteria")
    return BadgeDefinition(**head, tiers=_single_tier(body, path, 1), filter=event_filter)


def _charter(body: Mapping[str, Any], path: str, head: dict[str, Any]) -> BadgeDefinition:
    raw = body.get("criteria") or {"type": CHARTER_TYPE}
    event_filter = _filter(raw, f"{path}.criteria")
    return BadgeDefinition(**head, tiers=_single_tier(body, path, 1), filter=event_filter)


def _count(body: Mapping[str, Any], path: str, head: dict[str, Any]) -> BadgeDefinition:
    distinct = body.get("distinct")
    if distinct is not None and (not isinstance(distinct, str) or not distinct):
        raise CatalogueError("must be the name of a data field", f"{path}.distinct")
    return BadgeDefinition(
        **head,
        tiers=_tiers(body.get("tiers"), f"{path}.tiers"),
        filter=_filter(body.get("criteria"), f"{path}.criteria"),
        distinct=distinct,
    )


def _points(body: Mapping[str, Any], path: str, head: dict[str, Any]) -> BadgeDefinition:
    scope = body.get("scope", "all")
    if scope not in POINTS_SCOPES:
        raise CatalogueError(f"must be one of {POINTS_SCOPES}", f"{path}.scope")
    tiers = _tiers(body.get("tiers"), f"{path}.tiers")
    return BadgeDefinition(**head, tiers=tiers, period=scope)


def _streak(body: Mapping[str, Any], path: str, head: dict[str, Any]) -> BadgeDefinition:
    period = body.get("period")
    if period not in STREAK_PERIODS:
        raise CatalogueError(f"must be one of {STREAK_PERIODS}", f"{path}.period")
    return BadgeDefinition(
        **head,
        tiers=_tiers(body.get("tiers"), f"{path}.tiers"),
        filter=_filter(body.get("criteria"), f"{path}.criteria"),
        period=period,
    )


def _periodic(body: Mapping[str, Any], path: str, head: dict[str, Any]) -> BadgeDefinition:
    min_points = _positive_int(body.get("min_points"), f"{path}.min_points")
    tiers = _tiers(body.get("tiers"), f"{path}.tiers")
    return BadgeDefinition(**head, tiers=tiers, period="month", min_points=min_points)


def _set(body: Mapping[str, Any], path: str, head: dict[str, Any]) -> BadgeDefinition:
    courses = body.get("courses")
    if not isinstance(courses, list) or not courses:
        raise CatalogueError("must be a non-empty list of course ids", f"{path}.courses")
    for index, course in enumerate(courses):
        if not isinstance(course, str) or not course:
            raise CatalogueError("must be a course id", f"{path}.courses[{index}]")
    if len(set(courses)) != len(courses):
        raise CatalogueError("lists a course twice", f"{path}.courses")
    raw_filter = body.get("criteria") or {"type": COURSE_TYPE}
    return BadgeDefinition(
        **head,
        tiers=_single_tier(body, path, len(courses)),
        filter=_filter(raw_filter, f"{path}.criteria"),
        courses=tuple(courses),
    )


def _challenge(body: Mapping[str, Any], path: str, head: dict[str, Any]) -> BadgeDefinition:
    start = _instant(body.get("start"), f"{path}.start")
    end = _instant(body.get("end"), f"{path}.end")
    if end <= start:
        raise CatalogueError("must be after start", f"{path}.end")
    target = _positive_int(body.get("target"), f"{path}.target")
    team = body.get("team", False)
    if not isinstance(team, bool):
        raise CatalogueError("must be true or false", f"{path}.team")
    first_k = body.get("first_k")
    if first_k is not None:
        first_k = _positive_int(first_k, f"{path}.first_k")
    return BadgeDefinition(
        **head,
        tiers=_single_tier(body, path, target),
        filter=_filter(body.get("criteria"), f"{path}.criteria"),
        challenge=ChallengeRules(start=start, end=end, team=team, first_k=first_k),
    )


_KIND_PARSERS = {
    FIRST: _first,
    CHARTER: _charter,
    COUNT: _count,
    POINTS: _points,
    STREAK: _streak,
    PERIODIC: _periodic,
    SET: _set,
    CHALLENGE: _challenge,
}
_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    FIRST: (),
    CHARTER: (),
    COUNT: ("distinct",),
    POINTS: ("scope",),
    STREAK: ("period",),
    PERIODIC: ("min_points",),
    SET: ("courses",),
    CHALLENGE: ("start", "end", "target", "team", "first_k"),
}


def _single_tier(body: Mapping[str, Any], path: str, threshold: int) -> tuple[Tier, ...]:
    if "tiers" in body:
        raise CatalogueError("this kind has a single tier; remove `tiers`", f"{path}.tiers")
    return (Tier(SINGLE_TIER, threshold),)


def _tiers(raw: Any, path: str) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        raise CatalogueError("must be a non-empty list of {tier, threshold}", path)
    tiers: list[Tier] = []
    for index, entry in enumerate(raw):
        body = _mapping(entry, f"{path}[{index}]")
        name = _text_field(body, "tier", f"{path}[{index}]")
        if not ID_PATTERN.match(name):
            raise CatalogueError(
                "must be lowercase letters, digits, dashes", f"{path}[{index}].tier"
            )
        threshold = _positive_int(body.get("threshold"), f"{path}[{index}].threshold")
        if tiers and threshold <= tiers[-1].threshold:
            raise CatalogueError(
                "thresholds must grow from one tier to the next", f"{path}[{index}].threshold"
            )
        if any(tier.tier == name for tier in tiers):
            raise CatalogueError(f"duplicate tier {name!r}", f"{path}[{index}].tier")
        tiers.append(Tier(name, threshold))
    return tuple(tiers)


def _filter(raw: Any, path: str) -> EventFilter:
    body = _mapping(raw, path)
    types = body.get("type")
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        raise CatalogueError("must name an event type or a list of them", f"{path}.type")
    data = body.get("data", {})
    data = _mapping(data, f"{path}.data")
    for key in body:
        if key not in ("type", "data"):
            raise CatalogueError("a criterion has only `type` and `data`", f"{path}.{key}")
    return EventFilter(types=frozenset(types), data=tuple(sorted(data.items())))


def _translated(raw: Any, path: str) -> Text:
    body = _mapping(raw, path)
    for language in LANGUAGES:
        _text_field(body, language, path)
    return Text(fr=body["fr"], en=body["en"])


def _mapping(raw: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise CatalogueError("must be a mapping", path or None)
    return raw


def _text_field(body: Mapping[str, Any], name: str, path: str) -> str:
    value = body.get(name)
    where = f"{path}.{name}" if path else name
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError("is required and must be a non-empty string", where)
    return value


def _positive_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CatalogueError("must be a whole number of at least 1", path)
    return int(value)


def _instant(value: Any, path: str) -> datetime:
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as error:
            raise CatalogueError(f"not an ISO 8601 timestamp: {value!r}", path) from error
    else:
        raise CatalogueError("must be an ISO 8601 timestamp with a time zone", path)
    if instant.tzinfo is None:
        raise CatalogueError("needs a time zone (e.g. a trailing Z)", path)
    return instant.astimezone(UTC)
