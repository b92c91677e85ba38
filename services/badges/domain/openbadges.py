"""Open Badges documents: the 2.0 hosted-verification JSON-LD (Issuer, BadgeClass,
Assertion), the SVG image of each badge tier, the hashed recipient, and the 3.0
`OpenBadgeCredential` payload (signed as a VC-JWT by an adapter).

Every URL is absolute, built from the public base URL, because a verifier outside the
organisation fetches them."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from services.badges.domain.catalogue import BadgeDefinition, Issuer

OB2_CONTEXT = "https://w3id.org/openbadges/v2"
VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"

TIER_COLOURS = {
    "bronze": ("#b06a2c", "#f3d3b5"),
    "silver": ("#7d8790", "#e6eaee"),
    "gold": ("#b8860b", "#fbeaa5"),
    "platinum": ("#4a6b82", "#dbe9f3"),
}
DEFAULT_COLOURS = ("#2f5d8a", "#d7e6f4")


@dataclass(frozen=True)
class OpenBadgesUrls:
    """Where each Open Badges document lives, under `<public base URL>/ob/`."""

    base_url: str

    @property
    def root(self) -> str:
        """`<base>/ob`."""
        return self.base_url.rstrip("/") + "/ob"

    def issuer(self) -> str:
        """The Issuer profile."""
        return f"{self.root}/issuer"

    def badge_class(self, badge_id: str, tier: str) -> str:
        """The BadgeClass of one tier of a badge."""
        return f"{self.root}/badges/{quote(badge_id)}/{quote(tier)}"

    def image(self, badge_id: str, tier: str) -> str:
        """The SVG image of one tier of a badge."""
        return f"{self.badge_class(badge_id, tier)}/image.svg"

    def assertion(self, award_id: str) -> str:
        """The hosted Assertion of an award."""
        return f"{self.root}/assertions/{quote(award_id, safe=':')}"

    def credential(self, award_id: str) -> str:
        """The Open Badges 3.0 credential (VC-JWT) of an award."""
        return f"{self.root}/v3/credentials/{quote(award_id, safe=':')}"

    def jwks(self) -> str:
        """The public keys that verify the 3.0 credentials."""
        return f"{self.root}/v3/jwks"


def recipient_salt(secret: str, award_id: str) -> str:
    """A salt of its own for each assertion, derived from the service's secret, so that the
    same email gives unrelated hashes on two assertions and no salt is stored."""
    return hmac.new(secret.encode(), award_id.encode(), hashlib.sha256).hexdigest()[:16]


def hashed_identity(email: str, salt: str) -> str:
    """The Open Badges hashed recipient: `sha256$` + hex SHA-256 of email then salt."""
    return "sha256$" + hashlib.sha256((email.strip() + salt).encode()).hexdigest()


def issuer_profile(issuer: Issuer, urls: OpenBadgesUrls) -> dict[str, Any]:
    """The Issuer (Profile) JSON-LD."""
    profile: dict[str, Any] = {
        "@context": OB2_CONTEXT,
        "type": "Issuer",
        "id": urls.issuer(),
        "name": issuer.name,
        "url": issuer.url,
        "email": issuer.email,
    }
    if issuer.description:
        profile["description"] = issuer.description
    return profile


def badge_class(
    badge: BadgeDefinition, tier: str, urls: OpenBadgesUrls, language: str = "en"
) -> dict[str, Any]:
    """The BadgeClass JSON-LD of one tier, in `language` (fr or en)."""
    name, description = _texts(badge, tier, language)
    return {
        "@context": OB2_CONTEXT,
        "type": "BadgeClass",
        "id": urls.badge_class(badge.id, tier),
        "name": name,
        "description": description,
        "image": urls.image(badge.id, tier),
        "criteria": {"narrative": _criteria_narrative(badge, tier, language)},
        "issuer": urls.issuer(),
        "tags": [badge.kind, tier],
    }


def assertion(
    *,
    award_id: str,
    badge_id: str,
    tier: str,
    awarded_at: datetime,
    evidence: list[str],
    identity: str,
    salt: str,
    urls: OpenBadgesUrls,
) -> dict[str, Any]:
    """The hosted Assertion JSON-LD of an award that stands."""
    document: dict[str, Any] = {
        "@context": OB2_CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(award_id),
        "recipient": {"type": "email", "hashed": True, "salt": salt, "identity": identity},
        "badge": urls.badge_class(badge_id, tier),
        "verification": {"type": "hosted"},
        "issuedOn": _iso(awarded_at),
    }
    if evidence:
        document["evidence"] = [
            {"narrative": "Cercle events behind this award: " + ", ".join(evidence)}
        ]
    return document


def revoked_assertion(award_id: str, reason: str | None, urls: OpenBadgesUrls) -> dict[str, Any]:
    """What a hosted Assertion says once revoked (Open Badges 2.0 hosted verification)."""
    return {
        "@context": OB2_CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(award_id),
        "revoked": True,
        "revocationReason": reason or "revoked",
    }


def open_badge_credential(
    *,
    award_id: str,
    badge: BadgeDefinition,
    tier: str,
    awarded_at: datetime,
    identity: str,
    salt: str,
    issuer: Issuer,
    urls: OpenBadgesUrls,
) -> dict[str, Any]:
    """The Open Badges 3.0 `OpenBadgeCredential` of an award (unsigned)."""
    name, description = _texts(badge, tier, "en")
    return {
        "@context": [VC2_CONTEXT, OB3_CONTEXT],
        "id": urls.credential(award_id),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {
            "id": urls.issuer(),
            "type": ["Profile"],
            "name": issuer.name,
            "url": issuer.url,
            "email": issuer.email,
        },
        "validFrom": _iso(awarded_at),
        "name": name,
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": identity,
                    "identityType": "emailAddress",
                    "hashed": True,
                    "salt": salt,
                }
            ],
            "achievement": {
                "id": urls.badge_class(badge.id, tier),
                "type": ["Achievement"],
                "name": name,
                "description": description,
                "criteria": {"narrative": _criteria_narrative(badge, tier, "en")},
                "image": {"id": urls.image(badge.id, tier), "type": "Image"},
            },
        },
    }


def credential_claims(credential: dict[str, Any]) -> dict[str, Any]:
    """The VC-JWT payload of a credential (Open Badges 3.0, section 8.2): the credential's
    own members at the top level, with the registered claims `iss` (issuer id), `jti`
    (credential id) and `nbf` (`validFrom`). The subject has no `id`, so there is no `sub`."""
    issued = datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00"))
    return {
        **credential,
        "iss": credential["issuer"]["id"],
        "jti": credential["id"],
        "nbf": int(issued.timestamp()),
    }


def badge_image(badge: BadgeDefinition, tier: str) -> str:
    """A round SVG medal in the tier's colours with the badge's initials and name."""
    ring, fill = TIER_COLOURS.get(tier, DEFAULT_COLOURS)
    initials = "".join(word[0] for word in badge.name.en.split()[:2]).upper()
    label = escape(badge.name.en)
    tier_label = escape(tier.upper())
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" '
        f'viewBox="0 0 256 256" role="img" aria-label="{label} ({escape(tier)})">'
        f"<title>{label} ({escape(tier)})</title>"
        f'<circle cx="128" cy="128" r="120" fill="{ring}"/>'
        f'<circle cx="128" cy="128" r="100" fill="{fill}"/>'
        f'<text x="128" y="150" font-family="sans-serif" font-size="72" font-weight="bold" '
        f'text-anchor="middle" fill="{ring}">{escape(initials)}</text>'
        f'<text x="128" y="200" font-family="sans-serif" font-size="18" '
        f'text-anchor="middle" fill="{ring}">{tier_label}</text>'
        "</svg>"
    )


def _texts(badge: BadgeDefinition, tier: str, language: str) -> tuple[str, str]:
    name = badge.name.fr if language == "fr" else badge.name.en
    description = badge.description.fr if language == "fr" else badge.description.en
    if len(badge.tiers) > 1:
        name = f"{name} ({tier})"
    return name, description


def _criteria_narrative(badge: BadgeDefinition, tier: str, language: str) -> str:
    threshold = badge.tier(tier).threshold
    description = badge.description.fr if language == "fr" else badge.description.en
    if language == "fr":
        return f"{description} Seuil du niveau {tier} : {threshold}."
    return f"{description} Threshold of the {tier} tier: {threshold}."


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
