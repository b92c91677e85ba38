"""The project is distributed under the Apache License 2.0, and says so everywhere."""

from __future__ import annotations

import tomllib

from tests.deploy.kit import REPO


def test_the_license_is_the_apache_2_text_and_the_package_metadata_agrees() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "Apache-2.0"}
    assert "`LICENSE`" in (REPO / "README.md").read_text()
