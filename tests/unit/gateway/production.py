"""Production settings for tests: secrets strong enough to pass the production checks of
`cercle_common.settings` (never used anywhere but here)."""

from __future__ import annotations

from typing import Any

from cercle_common.settings import Settings

TEST_SECRETS = {
    "jwt_secret": "test-only-jwt-secret-0123456789abcdef",
    "admin_token": "test-only-admin-token-0123456789abcdef",
    "service_token": "test-only-service-token-0123456789abcdef",
    "badge_salt": "test-only-badge-salt",
}


def production_settings(**overrides: Any) -> Settings:
    """`CERCLE_ENV=prod` with the test secrets, then `overrides` (by field name)."""
    return Settings.from_env({"env": "prod", **TEST_SECRETS, **overrides}, environ={})
