"""The official Open Badges 2.0 validator (`openbadges` 1.1.2, in its own tool environment
`.tools/obvenv`, built by tools/openbadges/install.sh) against assertions served by
the running badges app on 127.0.0.1, the recipient's email coming from an events-service
stand-in over HTTP."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify
from werkzeug.serving import BaseWSGIServer, make_server

from services.badges.domain.facts import ActionFact
from services.badges.entrypoints.app import create_app

REPO = Path(__file__).resolve().parents[3]
OBVENV_PYTHON = REPO / ".tools" / "obvenv" / "bin" / "python"
VERIFY = REPO / "tools" / "openbadges" / "verify_assertion.py"
EMAIL = "ada.lovelace@cercle.test"


@pytest.fixture(scope="session")
def validator() -> Path:
    """The validator's Python; the tool environment is built on first use."""
    subprocess.run(
        ["bash", str(REPO / "tools" / "openbadges" / "install.sh")],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return OBVENV_PYTHON


def serve(app: Any) -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def events_service() -> Iterator[str]:
    """Answers `GET /v1/employees/<id>` like the events service, for any employee."""
    stand_in = Flask("events-stand-in")

    @stand_in.get("/v1/employees/<employee_id>")
    def employee(employee_id: str):
        return jsonify(employee_id=employee_id, email=EMAIL, team="t-1")

    server, thread = serve(stand_in)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def badges_url(settings, events_service) -> Iterator[tuple[str, Flask]]:
    """The badges app served by werkzeug; its public base URL is its own address."""
    holder: dict[str, Flask] = {}
    server, thread = serve(lambda environ, start: holder["app"](environ, start))
    base = f"http://127.0.0.1:{server.server_port}"
    overrides = {"public_base_url": base, "events_url": events_service}
    holder["app"] = create_app(settings.__class__(**{**settings.__dict__, **overrides}))
    yield base, holder["app"]
    server.shutdown()
    thread.join(timeout=10)
    holder["app"].extensions["badges"].close()


def verify(python: Path, url: str, email: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(python), str(VERIFY), url, "--email", email],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout, result.stderr
    return json.loads(result.stdout)["report"]


def award_first_shares(app: Flask, employee_id: str, count: int) -> None:
    service = app.extensions["badges"]._service
    service.apply_facts(
        employee_id,
        [
            ActionFact(
                id=f"{employee_id}-ev-{n}",
                type="content.shared",
                employee_id=employee_id,
                occurred_at=datetime(2026, 11, 2, 9, n, tzinfo=UTC),
                sequence=n,
                data={"content_id": f"c-{n}", "network": "linkedin"},
            )
            for n in range(1, count + 1)
        ],
    )


def test_hosted_assertions_are_valid_for_the_official_validator(validator, badges_url, employee_id):
    base, app = badges_url
    award_first_shares(app, employee_id, 5)
    service = app.extensions["badges"]._service
    for badge, tier in (("first-share", "standard"), ("ambassador", "bronze")):
        award = service.award_id(employee_id, badge, tier)
        report = verify(validator, f"{base}/ob/assertions/{award}", EMAIL)
        assert report["valid"] is True, report["messages"]
        assert (report["errorCount"], report["openBadgesVersion"]) == (0, "2.0")


def test_the_validator_refuses_another_recipient(validator, badges_url, employee_id):
    base, app = badges_url
    award_first_shares(app, employee_id, 1)
    award = app.extensions["badges"]._service.award_id(employee_id, "first-share", "standard")
    report = verify(validator, f"{base}/ob/assertions/{award}", "eve@cercle.test")
    assert report["valid"] is False
    assert any(m["name"] == "VERIFY_RECIPIENT_IDENTIFIER" for m in report["messages"])


def test_a_revoked_assertion_is_reported_revoked(validator, badges_url, employee_id, settings):
    base, app = badges_url
    award_first_shares(app, employee_id, 1)
    award = app.extensions["badges"]._service.award_id(employee_id, "first-share", "standard")
    response = app.test_client().post(
        f"/v1/admin/awards/{award}/revoke",
        json={"reason": "shared off-charter"},
        headers={"Authorization": f"Bearer {settings.admin_token}"},
    )
    assert response.status_code == 200
    served = app.test_client().get(f"/ob/assertions/{award}")
    assert served.status_code == 410
    assert served.get_json()["revoked"] is True
    # The validator no longer finds a verifiable assertion there.
    report = verify(validator, f"{base}/ob/assertions/{award}", EMAIL)
    assert report["valid"] is False
    missing = {m.get("prop_name") for m in report["messages"] if m["name"] == "VALIDATE_PROPERTY"}
    assert {"recipient", "badge"} <= missing
