"""The HTTP adapters against a real HTTP server on loopback that answers like the
services do (canned answers: the real services are tested in their own suites)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from flask import Flask, jsonify, request
from prometheus_client import REGISTRY
from werkzeug.serving import make_server

from cercle_common.errors import CercleError, NotFound, ValidationError
from gateway.clients import HttpBadges, HttpEvents, HttpPoints, ServiceClient
from gateway.ports import BoardQuery, ServiceUnavailable

ADMIN = "admin-token-for-tests"
SERVICE = "service-token-for-tests"


@pytest.fixture
def stub() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A service on a free loopback port; yields its URL and the requests it saw."""
    seen: list[dict[str, Any]] = []
    app = Flask("stub")

    @app.before_request
    def record() -> None:
        seen.append(
            {
                "path": request.path,
                "args": request.args.to_dict(),
                "auth": request.headers.get("Authorization"),
                "json": request.get_json(silent=True),
            }
        )

    @app.get("/v1/employees")
    def employees() -> Any:
        ids = request.args["ids"].split(",")
        return jsonify(employees=[{"id": i, "display_name": i.upper()} for i in ids if i != "x"])

    @app.post("/v1/events")
    def events() -> Any:
        body = request.get_json()
        if body["data"].get("network") == "myspace":
            error = {"code": "invalid", "message": "unknown network", "field": "data.network"}
            return jsonify(error=error), 422
        return jsonify({**body, "sequence": 7}), 201

    @app.get("/v1/leaderboards/employees")
    def board() -> Any:
        return jsonify(entries=[], page_info={"has_next_page": False, "end_cursor": None})

    @app.get("/v1/employees/<employee_id>/points")
    def points(employee_id: str) -> Any:
        if employee_id == "ghost":
            return jsonify(error={"code": "not_found", "message": "no such", "field": None}), 404
        if employee_id == "slow":
            time.sleep(1.0)
        if employee_id == "listed":
            return jsonify([1, 2])
        if employee_id == "boom":
            return "Traceback: at http://10.1.2.3/internal", 500
        return jsonify(employee_id=employee_id, points={"all": 1})

    @app.get("/v1/badges")
    def badges() -> Any:
        return jsonify(badges=[{"id": "b"}])

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()


def test_directory_is_asked_once_for_all_ids_as_the_platform(stub: Any) -> None:
    url, seen = stub
    events = HttpEvents(ServiceClient("events", url, SERVICE), ADMIN)
    found = events.employees(["e-1", "x", "e 2/3"])
    assert found == [{"id": "e-1", "display_name": "E-1"}, {"id": "e 2/3", "display_name": "E 2/3"}]
    assert seen == [
        {
            "path": "/v1/employees",
            "args": {"ids": "e-1,x,e 2/3"},
            "auth": f"Bearer {ADMIN}",
            "json": None,
        }
    ]


def test_directory_entries_are_reused_for_a_few_seconds_then_asked_again(stub: Any) -> None:
    url, seen = stub
    events = HttpEvents(ServiceClient("events", url, SERVICE), ADMIN, directory_ttl_s=0.3)
    events.employees(["e-1", "x"])
    events.employees(["x", "e-1", "e-2"])
    time.sleep(0.4)
    events.employees(["e-1"])
    assert [s["args"]["ids"] for s in seen] == ["e-1,x", "e-2", "e-1"]


def test_a_refused_event_keeps_the_services_message_and_field(stub: Any) -> None:
    url, _ = stub
    events = HttpEvents(ServiceClient("events", url, SERVICE), ADMIN)
    with pytest.raises(ValidationError) as refused:
        events.record_event({"id": "1", "data": {"network": "myspace"}})
    assert (refused.value.message, refused.value.field) == ("unknown network", "data.network")
    assert events.record_event({"id": "2", "data": {"network": "x"}})["sequence"] == 7


def test_board_parameters_go_on_the_query_string(stub: Any) -> None:
    url, seen = stub
    points = HttpPoints(ServiceClient("points", url, SERVICE))
    board = BoardQuery("week", date(2026, 11, 26), "site", site_id="s-lyon")
    points.leaderboard(board, 10, "c1")
    assert seen[0]["args"] == {
        "period": "week",
        "scope": "site",
        "at": "2026-11-26",
        "site_id": "s-lyon",
        "first": "10",
        "after": "c1",
    }


def test_a_board_page_is_reused_for_a_second_then_asked_again(stub: Any) -> None:
    url, seen = stub
    points = HttpPoints(ServiceClient("points", url, SERVICE), page_ttl_s=0.3)
    board = BoardQuery("all")
    points.leaderboard(board, 10, None)
    points.leaderboard(board, 10, None)
    points.leaderboard(board, 5, None)
    time.sleep(0.4)
    points.leaderboard(board, 10, None)
    assert [s["args"]["first"] for s in seen] == ["10", "5", "10"]


def test_404_is_not_found_and_500_is_unavailable_without_the_body(stub: Any) -> None:
    url, _ = stub
    points = HttpPoints(ServiceClient("points", url, SERVICE))
    before = {outcome: _calls("points", outcome) for outcome in ("refused", "unavailable")}
    with pytest.raises(NotFound):
        points.employee_points("ghost")
    with pytest.raises(ServiceUnavailable) as down:
        points.employee_points("boom")
    assert str(down.value) == "the points service is unavailable"
    after = {outcome: _calls("points", outcome) for outcome in ("refused", "unavailable")}
    assert after == {"refused": before["refused"] + 1, "unavailable": before["unavailable"] + 1}


def _calls(service: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "cercle_gateway_service_call_seconds_count", {"service": service, "outcome": outcome}
    )
    return value or 0.0


def test_a_slow_service_times_out_as_unavailable(stub: Any) -> None:
    url, _ = stub
    points = HttpPoints(ServiceClient("points", url, SERVICE, read_timeout_s=0.2))
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        points.employee_points("slow")
    assert time.monotonic() - started < 0.9


def test_an_answer_that_is_not_a_json_object_is_unavailable(stub: Any) -> None:
    url, _ = stub
    points = HttpPoints(ServiceClient("points", url, SERVICE))
    with pytest.raises(ServiceUnavailable):
        points.employee_points("listed")


def test_a_service_that_is_not_listening_is_unavailable_without_its_address() -> None:
    badges = HttpBadges(ServiceClient("badges", "http://127.0.0.1:1", SERVICE))
    with pytest.raises(ServiceUnavailable) as down:
        badges.catalogue()
    assert "127.0.0.1" not in str(down.value)


def test_the_catalogue_is_reused_for_a_while(stub: Any) -> None:
    url, seen = stub
    badges = HttpBadges(ServiceClient("badges", url, SERVICE))
    assert badges.catalogue() == badges.catalogue() == [{"id": "b"}]
    assert [s["path"] for s in seen] == ["/v1/badges"]


def test_every_call_presents_the_service_token_and_admin_calls_the_admin_token(
    stub: Any,
) -> None:
    url, seen = stub
    events = HttpEvents(ServiceClient("events", url, SERVICE), ADMIN, directory_ttl_s=0)
    points = HttpPoints(ServiceClient("points", url, SERVICE), page_ttl_s=0)
    badges = HttpBadges(ServiceClient("badges", url, SERVICE), catalogue_ttl_s=0)
    board = BoardQuery()
    calls: list[Any] = [
        lambda: events.record_event({"id": "1", "data": {}}),
        lambda: events.enps("s-1", "t-1", None, None, None),
        events.ready,
        lambda: points.leaderboard(board, 10, None),
        lambda: points.around("e-1", board, 2),
        lambda: points.team_leaderboard("all", None, "total", 10, None),
        lambda: points.employee_points("e-1"),
        lambda: points.ledger("e-1", 10, None),
        points.ready,
        badges.catalogue,
        lambda: badges.employee_badges("e-1"),
        badges.ready,
    ]
    admin_calls: list[Any] = [
        lambda: events.record_admin_event({"id": "2", "data": {}}),
        lambda: events.upsert_employee("e-1", {"display_name": "A"}),
        lambda: events.employees(["e-1"]),
    ]
    for call in calls + admin_calls:
        # The stub answers 404 where it has no canned answer: only the headers matter here.
        with contextlib.suppress(CercleError):
            call()
    auths = [request["auth"] for request in seen]
    assert auths == [f"Bearer {SERVICE}"] * len(calls) + [f"Bearer {ADMIN}"] * len(admin_calls)
