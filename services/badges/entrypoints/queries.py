"""What the badges HTTP API answers: the catalogue, an employee's awards and progress, a
badge's holders, and the Open Badges documents. The views only parse input and call these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cercle_common.errors import NotFound, ValidationError
from services.badges.adapters.signing import CredentialSigner
from services.badges.bootstrap import Components
from services.badges.domain import openbadges
from services.badges.domain.catalogue import KINDS, BadgeDefinition
from services.badges.domain.model import AWARDED, REVOKED, Award
from services.badges.entrypoints.cursors import HolderCursors

MAX_PAGE = 100
DEFAULT_PAGE = 20


class BadgeQueries:
    """Read side of the badges service, plus the administrator's revocation."""

    def __init__(self, components: Components, email_of: Callable[[str], str]) -> None:
        self._components = components
        self._service = components.service
        self._catalogue = components.catalogue
        self._email_of = email_of
        self.urls = openbadges.OpenBadgesUrls(components.settings.public_base_url)
        self._signer = CredentialSigner(components.keys)
        self._cursors = HolderCursors(components.settings.badge_salt)

    def close(self) -> None:
        """Release the connections (tests; a serving process keeps them for its life)."""
        self._components.close()

    # -- catalogue -----------------------------------------------------------------------

    def catalogue(self, kind: str | None = None) -> dict[str, Any]:
        """Every badge (or those of one kind) with its tiers and their images."""
        badges = self._catalogue.badges
        if kind is not None and kind not in KINDS:
            raise ValidationError(f"must be one of {', '.join(KINDS)}", "kind")
        if kind is not None:
            badges = tuple(badge for badge in badges if badge.kind == kind)
        return {"version": self._catalogue.version, "badges": [self._badge(b) for b in badges]}

    def badge(self, badge_id: str) -> dict[str, Any]:
        """One badge of the catalogue."""
        return self._badge(self._catalogue.get(badge_id))

    def _badge(self, badge: BadgeDefinition) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": badge.id,
            "kind": badge.kind,
            "name": badge.name.as_dict(),
            "description": badge.description.as_dict(),
            "tiers": [
                {
                    "tier": tier.tier,
                    "threshold": tier.threshold,
                    "image_url": self.urls.image(badge.id, tier.tier),
                }
                for tier in badge.tiers
            ],
        }
        if badge.period:
            body["period"] = badge.period
        if badge.courses:
            body["courses"] = list(badge.courses)
        if badge.challenge is not None:
            body["challenge"] = {
                "start": _iso(badge.challenge.start),
                "end": _iso(badge.challenge.end),
                "team": badge.challenge.team,
                "first_k": badge.challenge.first_k,
            }
        return body

    # -- employees -----------------------------------------------------------------------

    def employee_badges(self, employee_id: str) -> dict[str, Any]:
        """The employee's awards (revoked ones marked) and progress on every badge."""
        state, _ = self._components.states.load(employee_id)
        awards = sorted(state.awards.values(), key=lambda award: (award.awarded_at, award.badge_id))
        return {
            "employee_id": employee_id,
            "awards": [
                self._award_body(
                    self._service.award_id(employee_id, award.badge_id, award.tier), award
                )
                for award in awards
            ],
            "progress": [
                progress.as_dict()
                for progress in state.progress(self._catalogue, self._service.time_zone)
            ],
        }

    def holders(self, badge_id: str, first: str | None, after: str | None) -> dict[str, Any]:
        """Who holds a badge (standing awards), a page at a time, in award id order.
        Visible employees appear with their id and award; pseudonymous ones by pseudonym
        only (no employee id, no award id to open their assertion, the day only); hidden
        ones, and those the directory copy does not know yet, not at all. The cursor is
        opaque (see `HolderCursors`)."""
        self._catalogue.get(badge_id)
        limit = _page_size(first)
        position = self._cursors.read(badge_id, after) if after else None
        holders: list[dict[str, Any]] = []
        has_next_page = False
        scanned = position
        # Rows not shown are skipped; reading on until the page is full and one more holder
        # is seen keeps pages full and `has_next_page` true only when a holder follows.
        while not has_next_page:
            rows = self._components.awards.holders(badge_id, scanned, limit + 1)
            directory = self._components.directory.entries([row["employee_id"] for row in rows])
            for row in rows:
                scanned = row["_id"]
                holder = self._holder(row, directory.get(row["employee_id"]))
                if holder is None:
                    if len(holders) < limit:
                        position = scanned
                    continue
                if len(holders) == limit:
                    has_next_page = True
                    break
                holders.append(holder)
                position = scanned
            if len(rows) <= limit:
                break
        return {
            "badge_id": badge_id,
            "holders": holders,
            "page_info": {
                "has_next_page": has_next_page,
                "end_cursor": self._cursors.make(badge_id, position) if position else None,
            },
        }

    def _holder(self, row: dict[str, Any], entry: dict[str, Any] | None) -> dict[str, Any] | None:
        if row["_id"] != self._service.award_id(row["employee_id"], row["badge_id"], row["tier"]):
            return None  # Projected under the former, guessable award ids.
        return _holder_body(row, entry)

    # -- administrator -------------------------------------------------------------------

    def revoke(self, award: str, reason: str) -> dict[str, Any]:
        """Revoke an award; answers the award as it now stands."""
        return self._award_body(award, self._service.revoke(award, reason, datetime.now(UTC)))

    def _award_body(self, award_id: str, award: Award) -> dict[str, Any]:
        return {
            "id": award_id,
            "badge_id": award.badge_id,
            "tier": award.tier,
            "status": award.status,
            "awarded_at": _iso(award.awarded_at),
            "revoked_at": _iso(award.revoked_at) if award.revoked_at else None,
            "reason": award.reason,
            "evidence": list(award.evidence),
            "assertion_url": self.urls.assertion(award_id),
        }

    # -- Open Badges -----------------------------------------------------------------------

    def issuer(self) -> dict[str, Any]:
        """The Open Badges Issuer profile."""
        return openbadges.issuer_profile(self._catalogue.issuer, self.urls)

    def badge_class(self, badge_id: str, tier: str, language: str) -> dict[str, Any]:
        """The BadgeClass of a badge tier."""
        badge = self._catalogue.get(badge_id)
        badge.tier(tier)
        return openbadges.badge_class(badge, tier, self.urls, language)

    def image(self, badge_id: str, tier: str) -> str:
        """The SVG image of a badge tier."""
        badge = self._catalogue.get(badge_id)
        badge.tier(tier)
        return openbadges.badge_image(badge, tier)

    def assertion(self, award: str) -> dict[str, Any]:
        """The hosted Assertion of an award; a revoked one says so."""
        employee_id, granted = self._award(award)
        if granted.status == REVOKED:
            return openbadges.revoked_assertion(award, granted.reason, self.urls)
        identity, salt = self._recipient(award, employee_id)
        return openbadges.assertion(
            award_id=award,
            badge_id=granted.badge_id,
            tier=granted.tier,
            awarded_at=granted.awarded_at,
            evidence=list(granted.evidence),
            identity=identity,
            salt=salt,
            urls=self.urls,
        )

    def credential(self, award: str) -> tuple[str, dict[str, Any]]:
        """The Open Badges 3.0 credential of a standing award, and its VC-JWT."""
        employee_id, granted = self._award(award)
        if granted.status != AWARDED:
            raise NotFound(f"award {award!r} is revoked: no credential is issued", "award_id")
        identity, salt = self._recipient(award, employee_id)
        credential = openbadges.open_badge_credential(
            award_id=award,
            badge=self._catalogue.get(granted.badge_id),
            tier=granted.tier,
            awarded_at=granted.awarded_at,
            identity=identity,
            salt=salt,
            issuer=self._catalogue.issuer,
            urls=self.urls,
        )
        return self._signer.sign(openbadges.credential_claims(credential)), credential

    def jwks(self) -> dict[str, Any]:
        """The public keys of the 3.0 credentials."""
        return self._signer.jwks()

    def _award(self, award: str) -> tuple[str, Award]:
        # The projection says whose award the id is; its status is read from the employee's
        # state (the truth, by `_id`).
        employee_id, badge_id, tier = self._service.locate(award)
        state, _ = self._components.states.load(employee_id)
        granted = state.awards.get(f"{badge_id}:{tier}")
        if granted is None:
            raise NotFound(f"no award {award!r}", "award_id")
        return employee_id, granted

    def _recipient(self, award: str, employee_id: str) -> tuple[str, str]:
        stored = self._components.recipients.get(award)
        if stored is None:
            salt = openbadges.recipient_salt(self._components.settings.badge_salt, award)
            identity = openbadges.hashed_identity(self._email_of(employee_id), salt)
            stored = self._components.recipients.fix(award, employee_id, identity, salt)
        return stored["identity"], stored["salt"]


def _holder_body(row: dict[str, Any], entry: dict[str, Any] | None) -> dict[str, Any] | None:
    visibility = entry.get("visibility") if entry else None
    if visibility == "visible":
        return {
            "award_id": row["_id"],
            "employee_id": row["employee_id"],
            "tier": row["tier"],
            "awarded_at": _iso(row["awarded_at"]),
            "visibility": visibility,
            "pseudonym": None,
        }
    if visibility == "pseudonym" and entry and entry.get("pseudonym"):
        # The exact instant could be matched with the public post that earned the badge.
        day = _iso(row["awarded_at"])[:10] + "T00:00:00Z"
        return {
            "award_id": None,
            "employee_id": None,
            "tier": row["tier"],
            "awarded_at": day,
            "visibility": visibility,
            "pseudonym": entry["pseudonym"],
        }
    return None


def _page_size(first: str | None) -> int:
    if first is None or first == "":
        return DEFAULT_PAGE
    try:
        size = int(first)
    except ValueError as error:
        raise ValidationError("must be a whole number", "first") from error
    if not 1 <= size <= MAX_PAGE:
        raise ValidationError(f"must be between 1 and {MAX_PAGE}", "first")
    return size


def _iso(instant: datetime) -> str:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
