"""The badges HTTP API over the real MongoDB wire server (and Kafka for revocations)."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from cercle_common.topics import BADGES
from services.badges.domain.facts import ActionFact
from services.badges.entrypoints.app import create_app
from tests.integration.badges.conftest import badge_messages

EMAIL = "ada@cercle.test"


@pytest.fixture
def app(settings):
    made = create_app(settings, email_of=lambda employee_id: EMAIL)
    yield made
    made.extensions["badges"].close()


@pytest.fixture
def client(app, settings):
    """The badges API called with the service token, as the gateway does."""
    authenticated = app.test_client()
    authenticated.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {settings.service_token}"
    return authenticated


@pytest.fixture
def service(app):
    return app.extensions["badges"]._service


def share(employee_id: str, sequence: int, day: int = 2, content: str | None = None) -> ActionFact:
    return ActionFact(
        id=f"{employee_id}-ev-{sequence}",
        type="content.shared",
        employee_id=employee_id,
        occurred_at=datetime(2026, 11, day, 9, tzinfo=UTC),
        sequence=sequence,
        data={"content_id": content or f"c-{sequence}", "network": "linkedin"},
    )


def first_share(service, employee_id: str) -> str:
    return service.award_id(employee_id, "first-share", "standard")


def admin(settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token}"}


def test_catalogue_lists_badges_with_both_languages_and_tier_images(client, settings):
    body = client.get("/v1/badges").get_json()
    first = next(badge for badge in body["badges"] if badge["id"] == "first-share")
    assert first == {
        "id": "first-share",
        "kind": "first",
        "name": {"fr": "Premier partage", "en": "First share"},
        "description": first["description"],
        "tiers": [
            {
                "tier": "standard",
                "threshold": 1,
                "image_url": f"{settings.public_base_url}/ob/badges/first-share/standard/image.svg",
            }
        ],
    }
    assert set(first["description"]) == {"fr", "en"}
    streaks = client.get("/v1/badges?kind=streak").get_json()["badges"]
    assert {badge["kind"] for badge in streaks} == {"streak"}
    unknown = client.get("/v1/badges?kind=sparkle")
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["field"] == "kind"


def test_employee_badges_show_awards_and_progress(client, service, employee_id, settings):
    service.apply_facts(employee_id, [share(employee_id, 1), share(employee_id, 2)])
    body = client.get(f"/v1/employees/{employee_id}/badges").get_json()
    assert body["employee_id"] == employee_id
    first = next(a for a in body["awards"] if a["badge_id"] == "first-share")
    assert first == {
        "id": first_share(service, employee_id),
        "badge_id": "first-share",
        "tier": "standard",
        "status": "awarded",
        "awarded_at": "2026-11-02T09:00:00Z",
        "revoked_at": None,
        "reason": None,
        "evidence": [f"{employee_id}-ev-1"],
        "assertion_url": (
            f"{settings.public_base_url}/ob/assertions/{first_share(service, employee_id)}"
        ),
    }
    progress = {p["badge_id"]: p for p in body["progress"]}
    assert progress["ambassador"] == {
        "badge_id": "ambassador",
        "current": 2,
        "next_tier": "bronze",
        "next_threshold": 5,
    }
    unknown = client.get("/v1/employees/nobody-at-all/badges").get_json()
    assert unknown["awards"] == [] and len(unknown["progress"]) == len(body["progress"])


def visibility(service, employee_id: str, value: str, pseudonym: str | None = None) -> None:
    service.directory.apply_snapshot(
        {"employee_id": employee_id, "visibility": value, "pseudonym": pseudonym, "version": 1}
    )


def all_holders(client, first: int) -> tuple[list[dict], list[dict]]:
    """Every holder of first-share, page after page, and the pages' `page_info`."""
    holders: list[dict] = []
    infos: list[dict] = []
    after = ""
    while True:
        page = client.get(f"/v1/badges/first-share/holders?first={first}&after={after}")
        assert page.status_code == 200, page.get_json()
        holders += page.get_json()["holders"]
        infos.append(page.get_json()["page_info"])
        if not infos[-1]["has_next_page"]:
            return holders, infos
        after = infos[-1]["end_cursor"]


def test_holders_are_paged_by_cursor_and_hidden_employees_left_out(client, service):
    ids = [f"h-{n}" for n in range(6)]
    for number, employee in enumerate(ids):
        service.apply_facts(employee, [share(employee, number + 1)])
    for employee in ids[:4]:
        visibility(service, employee, "visible")
    visibility(service, "h-4", "hidden")  # h-5: not in the directory copy yet
    # A row projected under the former, guessable id scheme is not listed.
    old_scheme = {
        "id": "h-0:first-share:standard",
        "employee_id": "h-0",
        "badge_id": "first-share",
        "tier": "standard",
        "status": "awarded",
        "evidence": [],
        "reason": None,
    }
    service.awards.project(old_scheme, 1, datetime(2026, 11, 2, tzinfo=UTC))
    holders, infos = all_holders(client, 1)
    assert sorted(h["employee_id"] for h in holders) == ["h-0", "h-1", "h-2", "h-3"]
    assert [len(info["end_cursor"]) > 0 for info in infos] == [True] * len(infos)
    assert len(infos) == 4  # full pages: the hidden ones are skipped, not left as holes
    holders_by_five, _ = all_holders(client, 5)
    assert holders_by_five == holders
    for holder in holders:
        assert holder["award_id"] == first_share(service, holder["employee_id"])


def test_pseudonymous_holders_appear_by_pseudonym_only(client, service, employee_id):
    service.apply_facts(employee_id, [share(employee_id, 1)])
    visibility(service, employee_id, "pseudonym", "Blue Fox")
    holders, infos = all_holders(client, 100)
    award = first_share(service, employee_id)
    assert holders == [
        {
            "award_id": None,
            "employee_id": None,
            "tier": "standard",
            "awarded_at": "2026-11-02T00:00:00Z",
            "visibility": "pseudonym",
            "pseudonym": "Blue Fox",
        }
    ]
    # Nothing in the answer ties the pseudonym to the employee or opens their assertion.
    for text in (employee_id, award):
        assert text not in client.get("/v1/badges/first-share/holders").get_data(as_text=True)
    assert infos[-1]["end_cursor"] not in (None, award)


def test_an_altered_or_unknown_holders_cursor_is_a_4xx_naming_after(client, service):
    for number, employee in enumerate(["k-0", "k-1"]):
        service.apply_facts(employee, [share(employee, number + 1)])
        visibility(service, employee, "visible")
    cursor = client.get("/v1/badges/first-share/holders?first=1").get_json()["page_info"][
        "end_cursor"
    ]
    for after in (
        "k-0",
        first_share(service, "k-0"),
        cursor[:-4] + ("AAAA" if not cursor.endswith("AAAA") else "BBBB"),
    ):
        response = client.get(f"/v1/badges/first-share/holders?after={after}")
        assert response.status_code == 422, after
        assert response.get_json()["error"]["field"] == "after"
    other_badge = client.get(f"/v1/badges/first-linkedin-share/holders?after={cursor}")
    assert (other_badge.status_code, other_badge.get_json()["error"]["field"]) == (422, "after")


def test_a_hidden_employees_award_is_not_enumerable_but_verifies_by_its_url(
    client, service, employee_id
):
    service.apply_facts(employee_id, [share(employee_id, 1)])
    visibility(service, employee_id, "hidden")
    award = first_share(service, employee_id)
    holders, _ = all_holders(client, 100)
    assert award not in {h["award_id"] for h in holders}
    guessed = client.get(f"/ob/assertions/{employee_id}:first-share:standard")
    assert guessed.status_code == 404
    shared = client.get(f"/ob/assertions/{award}")
    assert shared.status_code == 200
    assert shared.get_json()["id"].endswith(f"/ob/assertions/{award}")


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/v1/badges/first-share/holders?first=0", 422, "first"),
        ("/v1/badges/first-share/holders?first=ten", 422, "first"),
        ("/v1/badges/no-such-badge/holders", 404, "badge_id"),
        ("/v1/badges/no-such-badge", 404, "badge_id"),
        ("/ob/badges/first-share/gold", 404, "tier"),
        ("/ob/assertions/nobody:first-share:standard", 404, "award_id"),
        ("/ob/assertions/not-an-award-id", 404, "award_id"),
    ],
)
def test_bad_requests_answer_a_4xx_naming_the_field(client, path, status, field):
    response = client.get(path)
    assert response.status_code == status
    assert response.get_json()["error"]["field"] == field


def test_admin_revocation_needs_the_admin_token_and_a_reason(
    client, service, employee_id, settings, watch
):
    service.apply_facts(employee_id, [share(employee_id, 1)])
    url = f"/v1/admin/awards/{first_share(service, employee_id)}/revoke"
    assert client.post(url, json={"reason": "x"}).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.post(url, json={"reason": "x"}, headers=wrong).status_code == 401
    missing = client.post(url, json={}, headers=admin(settings))
    assert (missing.status_code, missing.get_json()["error"]["field"]) == (422, "reason")
    unknown = client.post(
        f"/v1/admin/awards/{service.award_id(employee_id, 'ambassador', 'gold')}/revoke",
        json={"reason": "x"},
        headers=admin(settings),
    )
    assert unknown.status_code == 404

    badges = watch(BADGES)
    response = client.post(url, json={"reason": "posted off-charter"}, headers=admin(settings))
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["reason"]) == (
        "revoked",
        "posted off-charter",
    )
    records = badges.wait_for(lambda r: r.key == employee_id.encode())
    assert badge_messages(records, employee_id)[0]["status"] == "revoked"
    awards = client.get(f"/v1/employees/{employee_id}/badges").get_json()["awards"]
    statuses = {award["badge_id"]: award["status"] for award in awards}
    assert statuses == {"first-share": "revoked", "first-linkedin-share": "awarded"}
    holders = client.get("/v1/badges/first-share/holders?first=100").get_json()["holders"]
    assert employee_id not in [h["employee_id"] for h in holders]
    gone = client.get(f"/ob/assertions/{first_share(service, employee_id)}")
    assert gone.status_code == 410
    assert (gone.get_json()["revoked"], gone.get_json()["revocationReason"]) == (
        True,
        "posted off-charter",
    )


def test_open_badges_documents_are_served_as_json_ld_with_absolute_urls(
    client, service, employee_id, settings
):
    service.apply_facts(employee_id, [share(employee_id, 1)])
    issuer = client.get("/ob/issuer")
    assert issuer.content_type == "application/ld+json"
    assert issuer.get_json()["id"] == f"{settings.public_base_url}/ob/issuer"
    badge_class = client.get("/ob/badges/ambassador/gold?lang=fr").get_json()
    assert badge_class["name"] == "Ambassadeur (gold)"
    image = client.get("/ob/badges/ambassador/gold/image.svg")
    assert image.content_type == "image/svg+xml" and b"<svg" in image.data
    assertion = client.get(f"/ob/assertions/{first_share(service, employee_id)}").get_json()
    assert assertion["recipient"]["identity"].startswith("sha256$")
    assert assertion["badge"] == f"{settings.public_base_url}/ob/badges/first-share/standard"


def test_open_badges_3_credential_is_a_jwt_verified_by_the_published_key(
    client, service, employee_id, settings
):
    service.apply_facts(employee_id, [share(employee_id, 1)])
    award = first_share(service, employee_id)
    response = client.get(f"/ob/v3/credentials/{award}")
    assert response.content_type == "application/vc+jwt"
    token = response.get_data(as_text=True)
    jwks = client.get("/ob/v3/jwks").get_json()
    key = jwt.PyJWKSet.from_dict(jwks).keys[0]
    assert key.key_id == jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, key.key, algorithms=["RS256"])
    assert claims["jti"] == f"{settings.public_base_url}/ob/v3/credentials/{award}"
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert jwt.get_unverified_header(token)["jwk"] == jwks["keys"][0]
    assertion = client.get(f"/ob/assertions/{award}").get_json()
    subject = claims["credentialSubject"]["identifier"][0]
    # The same recipient hash in the 2.0 assertion and the 3.0 credential.
    assert subject["identityHash"] == assertion["recipient"]["identity"]
