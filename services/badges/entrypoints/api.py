"""The badges HTTP API (blueprint): catalogue, employees' awards and progress, holders,
the administrator's revocation, and Open Badges hosted verification under `/ob/`."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, jsonify, request

from cercle_common.errors import Unauthorized, ValidationError
from cercle_common.httpapi import json_body, service_token_guard, settings_of
from services.badges.entrypoints.queries import BadgeQueries

blueprint = Blueprint("badges", __name__)
# Open Badges hosted verification (`/ob/...`) must stay public: anyone holding a badge's
# URL checks it there. Everything else is for the gateway.
blueprint.before_request(service_token_guard(public_prefixes=("/ob/",)))

JSON_LD = "application/ld+json"
MAX_REASON = 500


def _queries() -> BadgeQueries:
    queries: BadgeQueries = current_app.extensions["badges"]
    return queries


@blueprint.get("/v1/badges")
def list_badges() -> Response:
    return jsonify(_queries().catalogue(request.args.get("kind")))


@blueprint.get("/v1/badges/<badge_id>")
def get_badge(badge_id: str) -> Response:
    return jsonify(_queries().badge(badge_id))


@blueprint.get("/v1/badges/<badge_id>/holders")
def badge_holders(badge_id: str) -> Response:
    args = request.args
    return jsonify(_queries().holders(badge_id, args.get("first"), args.get("after")))


@blueprint.get("/v1/employees/<employee_id>/badges")
def employee_badges(employee_id: str) -> Response:
    return jsonify(_queries().employee_badges(employee_id))


@blueprint.post("/v1/admin/awards/<award_id>/revoke")
def revoke_award(award_id: str) -> Response:
    _require_admin()
    body = json_body()
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("is required: say why the award is revoked", "reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"must be at most {MAX_REASON} characters", "reason")
    return jsonify(_queries().revoke(award_id, reason.strip()))


@blueprint.get("/ob/issuer")
def ob_issuer() -> Response:
    return _json_ld(_queries().issuer())


@blueprint.get("/ob/badges/<badge_id>/<tier>")
def ob_badge_class(badge_id: str, tier: str) -> Response:
    language = request.args.get("lang", "en")
    if language not in ("en", "fr"):
        raise ValidationError("must be en or fr", "lang")
    return _json_ld(_queries().badge_class(badge_id, tier, language))


@blueprint.get("/ob/badges/<badge_id>/<tier>/image.svg")
def ob_badge_image(badge_id: str, tier: str) -> Response:
    response = Response(_queries().image(badge_id, tier), content_type="image/svg+xml")
    response.cache_control.max_age = 3600
    return response


@blueprint.get("/ob/assertions/<award_id>")
def ob_assertion(award_id: str) -> tuple[Response, int]:
    document = _queries().assertion(award_id)
    # Hosted verification: a revoked assertion answers 410 Gone, saying `revoked: true`.
    return _json_ld(document), 410 if document.get("revoked") else 200


@blueprint.get("/ob/v3/credentials/<award_id>")
def ob_credential(award_id: str) -> Response:
    token, credential = _queries().credential(award_id)
    if request.args.get("format") == "json":
        return jsonify(credential=credential, jwt=token)
    return Response(token, content_type="application/vc+jwt")


@blueprint.get("/ob/v3/jwks")
def ob_jwks() -> Response:
    return jsonify(_queries().jwks())


def _json_ld(document: dict[str, object]) -> Response:
    response = jsonify(document)
    response.content_type = JSON_LD
    return response


def _require_admin() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("an administrator bearer token is required", "Authorization")
    expected = settings_of(current_app).admin_token
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("the bearer token is not an administrator's", "Authorization")
