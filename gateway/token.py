"""Print a development bearer token: `make token EMPLOYEE=e-1042 [ROLE=admin]`, that is
`python -m gateway.token --employee e-1042 [--role admin]`.

The token is HS256, signed with JWT_SECRET, with the configured issuer and audience. It
is refused in production mode (CERCLE_ENV=prod), where the gateway accepts only RS256
tokens from the identity provider anyway."""

from __future__ import annotations

import argparse
import sys

from cercle_common.settings import ConfigurationError as UnsafeSettings
from cercle_common.settings import Settings
from gateway.auth import DEV_TOKEN_TTL_S, ConfigurationError, issue_dev_token


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m gateway.token", description=__doc__)
    parser.add_argument("employee", nargs="?", help="the employee id (the token's sub)")
    parser.add_argument("--employee", dest="employee_option", help="the same, as an option")
    parser.add_argument(
        "--role", action="append", default=[], help="a role to grant (repeatable): admin"
    )
    parser.add_argument("--ttl", type=int, default=DEV_TOKEN_TTL_S, help="lifetime in seconds")
    args = parser.parse_args(argv)
    employee = args.employee_option or args.employee
    if not employee:
        parser.error("give the employee id: make token EMPLOYEE=<id>")
    roles = [role for given in args.role for role in given.split(",") if role]
    try:
        token = issue_dev_token(settings or Settings.from_env(), employee, roles, args.ttl)
    except (ConfigurationError, UnsafeSettings) as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
