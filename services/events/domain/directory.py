"""The employee directory record: validation, and the snapshot other services receive
(without names or emails)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from cercle_common.errors import ValidationError

VISIBILITIES = ("visible", "pseudonym", "hidden")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
MAX_NAME = 200
MAX_LABEL = 100
MAX_EMAIL = 254
MAX_PSEUDONYM = 64

RECORD_FIELDS = (
    "display_name",
    "email",
    "team",
    "department",
    "site",
    "country",
    "locale",
    "fte",
    "visibility",
    "pseudonym",
    "active",
)
PERSONAL_FIELDS = ("display_name", "email", "pseudonym")


@dataclass(frozen=True)
class EmployeeRecord:
    """What the directory knows of one employee (the body of `PUT /v1/employees/<id>`)."""

    display_name: str
    email: str
    team: str | None = None
    department: str | None = None
    site: str | None = None
    country: str | None = None
    locale: str | None = None
    fte: float = 1.0
    visibility: str = "visible"
    pseudonym: str | None = None
    active: bool = True

    def as_dict(self) -> dict[str, Any]:
        """Field name → value."""
        return asdict(self)


def parse_record(body: dict[str, Any], prefix: str = "") -> EmployeeRecord:
    """Validate a directory record; errors name the field (`prefix` + name)."""
    for name in sorted(body):
        if name not in RECORD_FIELDS:
            raise ValidationError("is not a directory field", prefix + name)

    def label(name: str, limit: int = MAX_LABEL, required: bool = False) -> str | None:
        value = body.get(name)
        if value is None:
            if required:
                raise ValidationError("is required", prefix + name)
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("must be a non-empty string", prefix + name)
        if len(value) > limit:
            raise ValidationError(f"must be at most {limit} characters", prefix + name)
        return value

    display_name = label("display_name", MAX_NAME, required=True)
    email = label("email", MAX_EMAIL, required=True)
    if email is None or not EMAIL.match(email):
        raise ValidationError("must be an email address", prefix + "email")
    country = label("country", 2)
    if country is not None and not COUNTRY.match(country):
        raise ValidationError("must be an ISO 3166 alpha-2 code such as FR", prefix + "country")
    locale = label("locale", 35)
    if locale is not None and not LOCALE.match(locale):
        raise ValidationError("must be a language tag such as fr-FR", prefix + "locale")
    fte = body.get("fte", 1.0)
    if isinstance(fte, bool) or not isinstance(fte, int | float) or not 0 < fte <= 1:
        raise ValidationError("must be a number in (0, 1]", prefix + "fte")
    visibility = body.get("visibility", "visible")
    if visibility not in VISIBILITIES:
        raise ValidationError(f"must be one of {', '.join(VISIBILITIES)}", prefix + "visibility")
    pseudonym = label("pseudonym", MAX_PSEUDONYM)
    if visibility == "pseudonym" and pseudonym is None:
        raise ValidationError("is required when visibility is pseudonym", prefix + "pseudonym")
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise ValidationError("must be true or false", prefix + "active")
    assert display_name is not None
    return EmployeeRecord(
        display_name=display_name,
        email=email,
        team=label("team"),
        department=label("department"),
        site=label("site"),
        country=country,
        locale=locale,
        fte=float(fte),
        visibility=visibility,
        pseudonym=pseudonym,
        active=active,
    )


def snapshot(employee_id: str, record: dict[str, Any], version: int) -> dict[str, Any]:
    """The message other services receive on `cercle.employees.v1`: no names, no email."""
    return {
        "employee_id": employee_id,
        "team": record.get("team"),
        "department": record.get("department"),
        "site": record.get("site"),
        "country": record.get("country"),
        "locale": record.get("locale"),
        "fte": record.get("fte"),
        "visibility": record.get("visibility"),
        "pseudonym": record.get("pseudonym"),
        "active": record.get("active"),
        "version": version,
    }


def same_record(stored: dict[str, Any], record: EmployeeRecord) -> bool:
    """True when storing `record` would change nothing (so no new version is published)."""
    return not stored.get("erased") and all(
        stored.get(name) == value for name, value in record.as_dict().items()
    )
