"""Where the state store finds a state and what its clean-up may remove, decided from
what it read (pure functions of the documents, no database)."""

from __future__ import annotations

from typing import Any

from services.badges.adapters.repository import garbage, latest_positions, version_id


def marker(employee_id: str, incarnation: str) -> dict[str, Any]:
    return {"_id": employee_id, "incarnation": incarnation}


def version(
    employee_id: str, incarnation: str, number: int, body: str, published: bool = False
) -> dict[str, Any]:
    return {
        "_id": version_id(employee_id, incarnation, number),
        "employee_id": employee_id,
        "incarnation": incarnation,
        "version": number,
        "body": body,
        "published": published,
        "has_outbox": not published,
        "matched_badges": ["first-share"],
    }


def body(employee_id: str, incarnation: str, number: int, name: str) -> dict[str, Any]:
    return {"_id": name, "employee_id": employee_id, "incarnation": incarnation, "version": number}


def test_the_state_is_the_highest_version_of_the_markers_incarnation():
    positions = latest_positions(
        [marker("e-1", "new")],
        [
            version("e-1", "new", 1, "b1"),
            version("e-1", "new", 3, "b3"),
            version("e-1", "old", 9, "b9"),  # left by the employee's erased past
        ],
        sweep="s",
    )
    position = positions["e-1"]
    assert (position.version, position.body, position.sweep) == (3, "b3", "s")
    assert position.version_id == "e-1#new.3"


def test_versions_without_a_marker_are_no_state_and_a_marker_alone_is_version_zero():
    positions = latest_positions(
        [marker("e-2", "i")], [version("e-1", "i", 1, "b"), version("e-3", "", 2, "c")], None
    )
    assert set(positions) == {"e-2"}
    assert positions["e-2"].version == 0


def test_a_state_of_the_first_layout_is_read_with_its_heads_published_version():
    head = {"_id": "e-1", "version": 4, "published_version": 5, "matched_badges": ["ambassador"]}
    inline = {"_id": "e-1#5", "employee_id": "e-1", "version": 5, "state_json": "{}"}
    position = latest_positions([head], [inline], None)["e-1"]
    assert (position.incarnation, position.version, position.body) == ("", 5, None)
    assert position.published and not position.has_outbox
    assert position.matched_badges == ("ambassador",)
    assert position.version_id == "e-1#5"


def test_the_clean_up_keeps_the_latest_version_and_the_body_it_names():
    versions = [
        version("e-1", "i", 1, "b1"),
        version("e-1", "i", 2, "b2"),
        version("e-1", "i", 3, "b2", published=True),  # the outbox of 2, published
    ]
    bodies = [body("e-1", "i", 1, "b1"), body("e-1", "i", 2, "b2")]
    old_versions, old_bodies = garbage(bodies, versions, [marker("e-1", "i")])
    assert old_versions == ["e-1#i.1", "e-1#i.2"]
    assert old_bodies == ["b1"]


def test_the_clean_up_removes_refused_bodies_but_keeps_those_still_to_be_named():
    bodies = [
        body("e-1", "i", 2, "refused"),  # its version's insert lost to "b2"
        body("e-1", "i", 3, "in-flight"),  # written, its version not yet
    ]
    versions = [version("e-1", "i", 2, "b2")]
    _, old_bodies = garbage([*bodies, body("e-1", "i", 2, "b2")], versions, [marker("e-1", "i")])
    assert old_bodies == ["refused"]


def test_the_clean_up_removes_everything_an_erased_incarnation_left():
    versions = [version("e-1", "old", 7, "b7"), version("e-1", "new", 1, "n1")]
    bodies = [body("e-1", "old", 7, "b7"), body("e-1", "new", 1, "n1"), body("e-2", "x", 1, "x1")]
    old_versions, old_bodies = garbage(bodies, versions, [marker("e-1", "new")])
    assert old_versions == ["e-1#old.7"]
    assert old_bodies == ["b7", "x1"]


def test_nothing_to_clean_leaves_everything():
    versions = [version("e-1", "i", 1, "b1"), version("e-2", "j", 4, "b4")]
    bodies = [body("e-1", "i", 1, "b1"), body("e-2", "j", 4, "b4")]
    assert garbage(bodies, versions, [marker("e-1", "i"), marker("e-2", "j")]) == ([], [])
