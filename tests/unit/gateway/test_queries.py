"""Queries executed against the schema with fake services; whole results compared."""

from __future__ import annotations

from typing import Any

from gateway.auth import Caller
from gateway.pagination import encode_cursor

ALICE = Caller("e-1")
BRUNO = Caller("e-2")
ADMIN = Caller("e-admin", frozenset({"admin"}))

THIN_PATH = """
{ leaderboard(period: ALL_TIME, first: 10) {
    edges { cursor node { rank points employee { id displayName } } }
    pageInfo { hasNextPage endCursor }
    totalCount } }
"""


def test_leaderboard_names_visible_employees_and_shows_pseudonyms_without_their_id(
    run: Any, services: Any
) -> None:
    assert run(THIN_PATH) == {
        "data": {
            "leaderboard": {
                "edges": [
                    {
                        "cursor": encode_cursor(None, 1),
                        "node": {
                            "rank": 1,
                            "points": 120,
                            "employee": {"id": "e-1", "displayName": "Alice Martin"},
                        },
                    },
                    {
                        "cursor": encode_cursor(None, 2),
                        "node": {
                            "rank": 2,
                            "points": 90,
                            "employee": {"id": None, "displayName": "Renard"},
                        },
                    },
                    {
                        "cursor": encode_cursor(None, 3),
                        "node": {
                            "rank": 3,
                            "points": 75,
                            "employee": {"id": "e-3", "displayName": "Chloé Durand"},
                        },
                    },
                ],
                "pageInfo": {"hasNextPage": False, "endCursor": encode_cursor("3", 0)},
                "totalCount": 3,
            }
        }
    }


def test_leaderboard_page_asks_the_directory_once_for_all_its_names(
    run: Any, services: Any
) -> None:
    run(THIN_PATH)
    assert services.events.directory_calls == [["e-1", "e-3"]]


def test_leaderboard_without_names_asks_the_directory_nothing(run: Any, services: Any) -> None:
    result = run("{ leaderboard { edges { node { rank points } } } }")
    assert result["data"]["leaderboard"]["edges"][0] == {"node": {"rank": 1, "points": 120}}
    assert services.events.directory_calls == []


def test_leaderboard_arguments_reach_the_points_service(run: Any, services: Any) -> None:
    run(
        '{ leaderboard(period: WEEK, at: "2026-11-26", scope: TEAM, teamId: "t-sales",'
        " first: 2) { periodKey } }"
    )
    name, (board, first, after) = services.points.calls[0]
    assert (name, board.params(), first, after) == (
        "leaderboard",
        {"period": "week", "scope": "team", "at": "2026-11-26", "team_id": "t-sales"},
        2,
        None,
    )


def test_team_scope_without_a_team_is_the_callers_team(run: Any, services: Any) -> None:
    run("{ leaderboard(scope: TEAM) { totalCount } }", caller=Caller("e-3"))
    _, (board, _, _) = services.points.calls[0]
    assert (board.scope, board.team_id) == ("team", "t-tech")


def test_a_pseudonymous_caller_finds_themselves_around_me(run: Any, services: Any) -> None:
    services.points.board[1]["employee_id"] = "e-2"  # what the index holds
    query = """{ leaderboard { aroundMe(radius: 1) {
        rank entries { rank isMe employee { id displayName } } } } }"""
    result = run(query, caller=BRUNO)
    assert result == {
        "data": {
            "leaderboard": {
                "aroundMe": {
                    "rank": 2,
                    "entries": [
                        {
                            "rank": 1,
                            "isMe": False,
                            "employee": {"id": "e-1", "displayName": "Alice Martin"},
                        },
                        {
                            "rank": 2,
                            "isMe": True,
                            "employee": {"id": "e-2", "displayName": "Renard"},
                        },
                        {
                            "rank": 3,
                            "isMe": False,
                            "employee": {"id": "e-3", "displayName": "Chloé Durand"},
                        },
                    ],
                }
            }
        }
    }


def test_a_hidden_caller_sees_their_own_place_marked_as_theirs_alone(
    run: Any, services: Any
) -> None:
    # Hugo (hidden) would stand second with 100 points; Bruno holds rank 2 on the board.
    services.points.hidden_places["e-9"] = (2, 100)
    query = """{ leaderboard { aroundMe(radius: 1) {
        rank points entries { rank points isMe onlyVisibleToMe employee { id } } } } }"""
    around = run(query, caller=Caller("e-9"))["data"]["leaderboard"]["aroundMe"]
    assert (around["rank"], around["points"]) == (2, 100)
    mine = [entry for entry in around["entries"] if entry["isMe"]]
    assert mine == [
        {"rank": 2, "points": 100, "isMe": True, "onlyVisibleToMe": True, "employee": {"id": "e-9"}}
    ]
    others = [entry for entry in around["entries"] if not entry["isMe"]]
    assert others and all(not entry["onlyVisibleToMe"] for entry in others)
    assert [entry["rank"] for entry in around["entries"]] == sorted(
        entry["rank"] for entry in around["entries"]
    )


def test_team_scope_without_a_team_is_refused_naming_the_argument(run: Any) -> None:
    result = run("{ leaderboard(scope: TEAM) { totalCount } }")
    assert result == {
        "data": {"leaderboard": None},
        "errors": [
            {
                "message": "is required when scope is TEAM",
                "locations": [{"line": 1, "column": 3}],
                "path": ["leaderboard"],
                "extensions": {"code": "INVALID", "field": "teamId"},
            }
        ],
    }


def test_paging_with_end_cursor_then_with_an_edge_cursor_gives_the_next_entries(
    run: Any,
) -> None:
    first = run(
        "{ leaderboard(first: 1) { edges { cursor node { rank } } pageInfo { endCursor } } }"
    )
    board = first["data"]["leaderboard"]
    second = run(
        "query P($after: String) { leaderboard(first: 1, after: $after) {"
        " edges { node { rank } } } }",
        variables={"after": board["pageInfo"]["endCursor"]},
    )
    assert second["data"]["leaderboard"]["edges"] == [{"node": {"rank": 2}}]
    two_pages = run("{ leaderboard(first: 2) { edges { cursor } } }")
    middle = two_pages["data"]["leaderboard"]["edges"][0]["cursor"]
    after_middle = run(
        "query P($after: String) { leaderboard(first: 5, after: $after) {"
        " edges { node { rank } } } }",
        variables={"after": middle},
    )
    assert after_middle["data"]["leaderboard"]["edges"] == [
        {"node": {"rank": 2}},
        {"node": {"rank": 3}},
    ]


def test_a_made_up_cursor_is_refused_naming_after(run: Any) -> None:
    result = run('{ leaderboard(after: "bm90LWEtY3Vyc29y") { totalCount } }')
    assert result["errors"][0]["extensions"] == {"code": "INVALID", "field": "after"}


def test_explicit_nulls_mean_the_defaults(run: Any, services: Any) -> None:
    query = """{ leaderboard(first: null, period: null, scope: null) {
        aroundMe(radius: null) { rank } } teamLeaderboard(first: null) { totalCount } }"""
    assert run(query, caller=Caller("e-3")) == {
        "data": {"leaderboard": {"aroundMe": {"rank": 3}}, "teamLeaderboard": {"totalCount": None}}
    }
    board, first, _ = _leaderboard_call(services)
    assert (board.period, board.scope, first) == ("all", "global", 10)


def _leaderboard_call(services: Any) -> Any:
    return next(args for name, args in services.points.calls if name == "leaderboard")


def test_page_size_over_100_is_refused(run: Any, services: Any) -> None:
    result = run("{ leaderboard(first: 101) { totalCount } }")
    assert result["errors"][0]["message"] == "must be between 1 and 100"
    assert result["errors"][0]["extensions"] == {"code": "INVALID", "field": "first"}
    assert services.points.calls == []


def test_around_me_gives_the_callers_rank_and_neighbours(run: Any) -> None:
    query = """{ leaderboard(first: 1) { aroundMe(radius: 1) {
        rank points entries { rank isMe employee { id displayName } } } } }"""
    assert run(query, caller=Caller("e-3")) == {
        "data": {
            "leaderboard": {
                "aroundMe": {
                    "rank": 3,
                    "points": 75,
                    "entries": [
                        {
                            "rank": 2,
                            "isMe": False,
                            "employee": {"id": None, "displayName": "Renard"},
                        },
                        {
                            "rank": 3,
                            "isMe": True,
                            "employee": {"id": "e-3", "displayName": "Chloé Durand"},
                        },
                    ],
                }
            }
        }
    }


def test_around_me_is_asked_once_alongside_the_page(run: Any, services: Any) -> None:
    run("{ leaderboard(first: 1) { aroundMe(radius: 1) { rank } } }", caller=Caller("e-3"))
    arounds = [args for name, args in services.points.calls if name == "around"]
    assert [(who, radius) for who, _, radius in arounds] == [("e-3", 1)]


def test_around_me_is_null_for_an_anonymous_reader(run: Any) -> None:
    assert run("{ leaderboard { aroundMe { rank } } }") == {
        "data": {"leaderboard": {"aroundMe": None}}
    }


def test_team_leaderboard_passes_the_normalisation_and_shapes_entries(
    run: Any, services: Any
) -> None:
    query = """{ teamLeaderboard(period: MONTH, normalize: PER_ACTIVE_MEMBER) {
        edges { node { rank teamId points activeMembers score } } pageInfo { hasNextPage } } }"""
    assert run(query) == {
        "data": {
            "teamLeaderboard": {
                "edges": [
                    {
                        "node": {
                            "rank": 1,
                            "teamId": "t-tech",
                            "points": 75,
                            "activeMembers": 1,
                            "score": 75.0,
                        }
                    },
                    {
                        "node": {
                            "rank": 2,
                            "teamId": "t-sales",
                            "points": 210,
                            "activeMembers": 3,
                            "score": 70.0,
                        }
                    },
                ],
                "pageInfo": {"hasNextPage": False},
            }
        }
    }
    assert services.points.calls == [("teams", ("month", None, "per_active_member", 10, None))]


def test_me_shows_the_callers_profile_points_rank_badges_progress_and_ledger(run: Any) -> None:
    query = """{ me { id displayName visibility team site
        points { allTime day week month quarter year }
        rank
        badges { badgeId name tier status awardedAt evidence assertionUrl }
        badgeProgress { badgeId name current nextTier nextThreshold }
        ledger(first: 2) { edges { node { eventId ruleId rulesVersion points explanation
            occurredAt sequence } } pageInfo { hasNextPage } } } }"""
    assert run(query, caller=ALICE, lang="fr") == {
        "data": {
            "me": {
                "id": "e-1",
                "displayName": "Alice Martin",
                "visibility": "VISIBLE",
                "team": "t-sales",
                "site": "s-lyon",
                "points": {
                    "allTime": 120,
                    "day": 10,
                    "week": 30,
                    "month": 60,
                    "quarter": 100,
                    "year": 120,
                },
                "rank": 1,
                "badges": [
                    {
                        "badgeId": "sharer",
                        "name": "Ambassadeur",
                        "tier": "bronze",
                        "status": "awarded",
                        "awardedAt": "2026-11-20T10:00:00+00:00",
                        "evidence": ["ev-1", "ev-2"],
                        "assertionUrl": "https://b.example/ob/assertions/a1",
                    }
                ],
                "badgeProgress": [
                    {
                        "badgeId": "sharer",
                        "name": "Ambassadeur",
                        "current": 7,
                        "nextTier": "silver",
                        "nextThreshold": 10,
                    }
                ],
                "ledger": {
                    "edges": [
                        {
                            "node": {
                                "eventId": f"ev-{n}",
                                "ruleId": "share",
                                "rulesVersion": "3",
                                "points": 10,
                                "explanation": f"shared on LinkedIn: +10; daily cap 3, {n} used",
                                "occurredAt": f"2026-11-2{n}T09:30:00+00:00",
                                "sequence": 100 + n,
                            }
                        }
                        for n in (3, 2)
                    ],
                    "pageInfo": {"hasNextPage": True},
                },
            }
        }
    }


def test_me_needs_a_token(run: Any) -> None:
    assert run("{ me { id } }") == {
        "data": {"me": None},
        "errors": [
            {
                "message": "sign in first: this needs a bearer token",
                "locations": [{"line": 1, "column": 3}],
                "path": ["me"],
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ],
    }


def test_another_employees_ledger_and_progress_are_refused_but_public_fields_answer(
    run: Any,
) -> None:
    query = (
        '{ employee(id: "e-1") { displayName badgeProgress { current }'
        " ledger { edges { cursor } } } }"
    )
    result = run(query, caller=Caller("e-3"))
    assert result["data"] == {
        "employee": {"displayName": "Alice Martin", "badgeProgress": None, "ledger": None}
    }
    assert [(e["path"], e["extensions"]["code"]) for e in result["errors"]] == [
        (["employee", "badgeProgress"], "FORBIDDEN"),
        (["employee", "ledger"], "FORBIDDEN"),
    ]


def test_an_admin_reads_another_employees_ledger(run: Any) -> None:
    query = '{ employee(id: "e-1") { ledger(first: 1) { edges { node { eventId } } } } }'
    assert run(query, caller=ADMIN) == {
        "data": {"employee": {"ledger": {"edges": [{"node": {"eventId": "ev-3"}}]}}}
    }


def test_pseudonymous_and_hidden_profiles_are_not_found_by_id_for_others(run: Any) -> None:
    query = (
        '{ a: employee(id: "e-2") { id } b: employee(id: "e-9") { id }'
        ' c: employee(id: "nobody") { id } }'
    )
    assert run(query, caller=ALICE) == {"data": {"a": None, "b": None, "c": None}}


def test_a_hidden_employee_sees_their_own_name_and_an_admin_sees_it_too(run: Any) -> None:
    query = '{ employee(id: "e-9") { id displayName visibility } }'
    expected = {"id": "e-9", "displayName": "Hugo Hidden", "visibility": "HIDDEN"}
    assert run(query, caller=Caller("e-9")) == {"data": {"employee": expected}}
    assert run(query, caller=ADMIN) == {"data": {"employee": expected}}


def test_a_pseudonymous_employee_sees_their_own_id_and_pseudonym(run: Any) -> None:
    query = "{ me { id displayName pseudonym visibility } }"
    assert run(query, caller=BRUNO) == {
        "data": {
            "me": {
                "id": "e-2",
                "displayName": "Renard",
                "pseudonym": "Renard",
                "visibility": "PSEUDONYM",
            }
        }
    }


def test_private_directory_fields_are_null_for_other_readers(run: Any) -> None:
    query = '{ employee(id: "e-1") { id team fte visibility pseudonym } }'
    assert run(query, caller=Caller("e-3")) == {
        "data": {
            "employee": {
                "id": "e-1",
                "team": "t-sales",
                "fte": None,
                "visibility": None,
                "pseudonym": None,
            }
        }
    }


def test_badge_catalogue_in_the_asked_language(run: Any) -> None:
    query = "{ badges { id kind name(lang: FR) description tiers { tier threshold imageUrl } } }"
    assert run(query, lang="en") == {
        "data": {
            "badges": [
                {
                    "id": "sharer",
                    "kind": "count",
                    "name": "Ambassadeur",
                    "description": "Share content",
                    "tiers": [
                        {"tier": "bronze", "threshold": 5, "imageUrl": "https://b.example/s1.svg"},
                        {"tier": "silver", "threshold": 10, "imageUrl": "https://b.example/s2.svg"},
                    ],
                }
            ]
        }
    }


def test_enps_figures_for_a_large_enough_group(run: Any, services: Any) -> None:
    services.events.enps_answers["q4"] = {
        "n": 40,
        "promoters": 50.0,
        "passives": 30.0,
        "detractors": 20.0,
        "enps": 30.0,
    }
    query = """{ enps(surveyId: "q4", teamId: "t-sales", from: "2026-10-01", to: "2026-12-31") {
        surveyId tooFewAnswers n promoters passives detractors enps } }"""
    assert run(query, caller=ALICE) == {
        "data": {
            "enps": {
                "surveyId": "q4",
                "tooFewAnswers": False,
                "n": 40,
                "promoters": 50.0,
                "passives": 30.0,
                "detractors": 20.0,
                "enps": 30.0,
            }
        }
    }
    survey, team, site, start, end = services.events.enps_calls[0]
    assert (survey, team, site, str(start), str(end)) == (
        "q4",
        "t-sales",
        None,
        "2026-10-01",
        "2026-12-31",
    )


def test_enps_under_the_anonymity_threshold_gives_no_figures(run: Any, services: Any) -> None:
    services.events.enps_answers["q4"] = {"too_few_answers": True, "min_group": 5}
    query = '{ enps(surveyId: "q4") { tooFewAnswers minGroup n enps promoters } }'
    assert run(query, caller=ALICE) == {
        "data": {
            "enps": {
                "tooFewAnswers": True,
                "minGroup": 5,
                "n": None,
                "enps": None,
                "promoters": None,
            }
        }
    }


def test_enps_needs_a_token(run: Any) -> None:
    result = run('{ enps(surveyId: "q4") { enps } }')
    assert result["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


def test_points_down_gives_partial_results_with_a_clear_error(run: Any, services: Any) -> None:
    services.points.down = True
    result = run("{ leaderboard { totalCount } badges { id } }")
    assert result == {
        "data": {"leaderboard": None, "badges": [{"id": "sharer"}]},
        "errors": [
            {
                "message": "the points service is unavailable",
                "locations": [{"line": 1, "column": 3}],
                "path": ["leaderboard"],
                "extensions": {"code": "SERVICE_UNAVAILABLE"},
            }
        ],
    }


def test_directory_down_keeps_ranks_and_asks_the_directory_once(run: Any, services: Any) -> None:
    services.events.down = True
    result = run("{ leaderboard { edges { node { rank employee { displayName } } } } }")
    assert result["data"] == {
        "leaderboard": {
            "edges": [
                {"node": {"rank": 1, "employee": {"displayName": None}}},
                {"node": {"rank": 2, "employee": {"displayName": "Renard"}}},
                {"node": {"rank": 3, "employee": {"displayName": None}}},
            ]
        }
    }
    assert {e["message"] for e in result["errors"]} == {"the events service is unavailable"}
    assert services.events.directory_attempts == 1


def test_badges_down_leaves_the_profile_answering(run: Any, services: Any) -> None:
    services.badges.down = True
    result = run("{ me { displayName badges { badgeId } } }", caller=ALICE)
    assert result["data"] == {"me": {"displayName": "Alice Martin", "badges": None}}
    assert result["errors"][0]["path"] == ["me", "badges"]
