"""Fixtures of the Kubernetes kit's checks: the overlays rendered by the pinned kustomize
(installed by tools/k8s/install.sh), parsed into plain dicts."""

from __future__ import annotations

import pytest

from tests.deploy.kit import OVERLAYS, Manifest, render


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    """The name of each overlay in turn."""
    name: str = request.param
    return name


@pytest.fixture
def manifests(overlay: str) -> list[Manifest]:
    """Every object of the overlay."""
    return render(overlay)
