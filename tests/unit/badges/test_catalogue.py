"""The catalogue is validated at load, with errors naming the faulty entry."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.badges.adapters.definitions import load_catalogue
from services.badges.domain.catalogue import KINDS, CatalogueError, parse_catalogue


def broken(raw: dict[str, Any], change) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    change(raw)
    return raw


def test_default_catalogue_loads_with_every_kind_in_both_languages():
    catalogue = load_catalogue()
    assert {badge.kind for badge in catalogue.badges} == set(KINDS)
    first = catalogue.get("first-share")
    assert (first.name.en, first.name.fr) == ("First share", "Premier partage")
    assert all(badge.name.fr and badge.description.en for badge in catalogue.badges)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda raw: raw["badges"][0].update(kind="bogus"), "badges[0].kind", "unknown kind"),
        (
            lambda raw: raw["badges"][1]["tiers"][1].update(threshold=1),
            "badges[1].tiers[1].threshold",
            "must grow",
        ),
        (lambda raw: raw["badges"][2]["name"].pop("fr"), "badges[2].name.fr", "required"),
        (lambda raw: raw["badges"][3].update(id="first-share"), "badges[3].id", "duplicate"),
        (lambda raw: raw["badges"][2].update(period="fortnight"), "badges[2].period", "one of"),
        (lambda raw: raw["badges"][0].update(tiers=[]), "badges[0].tiers", "single tier"),
        (lambda raw: raw["badges"][0].update(colour="red"), "badges[0].colour", "not a field"),
        (
            lambda raw: raw["badges"][10].update(end="2026-11-01T00:00:00Z"),
            "badges[10].end",
            "after start",
        ),
        (
            lambda raw: raw["badges"][10].update(start="2026-12-01T00:00:00"),
            "badges[10].start",
            "time zone",
        ),
        (lambda raw: raw["badges"][0]["criteria"].pop("type"), "badges[0].criteria.type", "type"),
    ],
)
def test_a_broken_catalogue_is_refused_naming_the_entry(raw_catalogue, change, field, message):
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(broken(raw_catalogue, change))
    assert caught.value.field == field
    assert message in caught.value.message


def test_an_unknown_badge_is_not_found(catalogue):
    from cercle_common.errors import NotFound

    with pytest.raises(NotFound):
        catalogue.get("nope")
