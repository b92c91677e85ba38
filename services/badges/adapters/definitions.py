"""Loads the badge catalogue from YAML (the repository's default, or another file)."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.badges.domain.catalogue import Catalogue, CatalogueError, parse_catalogue

# The YAML stays a data folder of the service (`services/badges/catalogue/`).
DEFAULT_CATALOGUE = Path(__file__).resolve().parents[1] / "catalogue" / "default.yaml"


def load_catalogue(path: Path = DEFAULT_CATALOGUE) -> Catalogue:
    """Read and validate a catalogue file; `CatalogueError` names the faulty entry."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise CatalogueError(f"{path.name} is not valid YAML: {error}") from error
    return parse_catalogue(raw)
