"""HTTP views of the points service: each parses its query string and calls a query."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, request

from cercle_common.httpapi import service_token_guard
from services.points.domain.ranking import bounded_int, page_size
from services.points.handlers import BoardQuery, PointsQueries

blueprint = Blueprint("points", __name__)
# Boards and ledgers are read by the gateway, which applies the privacy rules.
blueprint.before_request(service_token_guard())


def _queries() -> PointsQueries:
    queries: PointsQueries = current_app.extensions["points_queries"]
    return queries


def _now() -> datetime:
    return datetime.now(UTC)


def _board_query() -> BoardQuery:
    args = request.args
    return BoardQuery(
        period=args.get("period", "all"),
        at=args.get("at") or None,
        scope=args.get("scope", "global"),
        team_id=args.get("team_id") or None,
        site_id=args.get("site_id") or None,
    )


@blueprint.get("/v1/leaderboards/employees")
def employees_board() -> Response:
    """Top N employees of a period and scope, with cursor pagination."""
    first = page_size(request.args.get("first"), 10)
    body = _queries().employees_board(_board_query(), first, request.args.get("after"), _now())
    return jsonify(body)


@blueprint.get("/v1/leaderboards/employees/around/<employee_id>")
def around(employee_id: str) -> Response:
    """An employee's rank and neighbours."""
    radius = bounded_int(request.args.get("radius"), 2, "radius", 0, 50)
    return jsonify(_queries().around(employee_id, _board_query(), radius, _now()))


@blueprint.get("/v1/leaderboards/teams")
def teams_board() -> Response:
    """Teams by total points or points per active member."""
    return jsonify(_group_board("team"))


@blueprint.get("/v1/leaderboards/sites")
def sites_board() -> Response:
    """Sites by total points or points per active member."""
    return jsonify(_group_board("site"))


def _group_board(group: str) -> dict[str, object]:
    args = request.args
    return _queries().groups_board(
        group,
        args.get("period", "all"),
        args.get("at") or None,
        args.get("normalize", "total"),
        page_size(args.get("first"), 10),
        args.get("after"),
        _now(),
    )


@blueprint.get("/v1/employees/<employee_id>/points")
def employee_points(employee_id: str) -> Response:
    """An employee's points in every current period."""
    return jsonify(_queries().employee_points(employee_id, _now()))


@blueprint.get("/v1/employees/<employee_id>/ledger")
def ledger(employee_id: str) -> Response:
    """An employee's ledger entries, newest first, with their explanations."""
    first = page_size(request.args.get("first"), 20)
    return jsonify(_queries().ledger(employee_id, first, request.args.get("after")))
