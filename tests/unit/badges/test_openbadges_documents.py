"""Open Badges documents built by the pure core."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from xml.etree import ElementTree

from services.badges.domain import openbadges

URLS = openbadges.OpenBadgesUrls("https://badges.cercle.test/")


def test_hashed_identity_is_sha256_of_email_then_salt():
    expected = hashlib.sha256(b"ada@cercle.test" + b"s4lt").hexdigest()
    assert openbadges.hashed_identity("ada@cercle.test", "s4lt") == f"sha256${expected}"


def test_each_assertion_gets_its_own_salt_from_the_secret():
    first = openbadges.recipient_salt("secret", "e-1:first-share:standard")
    assert first == openbadges.recipient_salt("secret", "e-1:first-share:standard")
    assert first != openbadges.recipient_salt("secret", "e-2:first-share:standard")
    assert first != openbadges.recipient_salt("other", "e-1:first-share:standard")


def test_assertion_is_hosted_with_absolute_urls():
    document = openbadges.assertion(
        award_id="e-1:ambassador:gold",
        badge_id="ambassador",
        tier="gold",
        awarded_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
        evidence=["ev-1", "ev-2"],
        identity="sha256$abc",
        salt="s",
        urls=URLS,
    )
    assert document["id"] == "https://badges.cercle.test/ob/assertions/e-1:ambassador:gold"
    assert document["badge"] == "https://badges.cercle.test/ob/badges/ambassador/gold"
    assert document["verification"] == {"type": "hosted"}
    assert document["recipient"] == {
        "type": "email",
        "hashed": True,
        "salt": "s",
        "identity": "sha256$abc",
    }
    assert document["issuedOn"] == "2026-11-26T09:30:00Z"
    assert "ev-2" in document["evidence"][0]["narrative"]


def test_a_revoked_assertion_says_so_with_its_reason():
    document = openbadges.revoked_assertion("e-1:first-share:standard", "share deleted", URLS)
    assert document["revoked"] is True
    assert document["revocationReason"] == "share deleted"
    assert "recipient" not in document


def test_badge_class_and_image_per_tier(catalogue):
    badge = catalogue.get("ambassador")
    french = openbadges.badge_class(badge, "silver", URLS, "fr")
    assert french["name"] == "Ambassador (fr) (silver)"
    assert french["image"].endswith("/ob/badges/ambassador/silver/image.svg")
    assert french["issuer"] == "https://badges.cercle.test/ob/issuer"
    svg = ElementTree.fromstring(openbadges.badge_image(badge, "silver"))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert openbadges.badge_image(badge, "gold") != openbadges.badge_image(badge, "silver")


def test_open_badge_credential_claims_carry_the_credential(catalogue):
    credential = openbadges.open_badge_credential(
        award_id="e-1:first-share:standard",
        badge=catalogue.get("first-share"),
        tier="standard",
        awarded_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
        identity="sha256$abc",
        salt="s",
        issuer=catalogue.issuer,
        urls=URLS,
    )
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    claims = openbadges.credential_claims(credential)
    assert claims["iss"] == "https://badges.cercle.test/ob/issuer"
    assert claims["jti"] == credential["id"]
    assert claims["nbf"] == int(datetime(2026, 11, 26, 9, 30, tzinfo=UTC).timestamp())
    assert claims["credentialSubject"]["achievement"]["name"] == "First share"
    assert "vc" not in claims and "sub" not in claims
