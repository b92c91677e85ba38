"""A seeded, property-based fuzz of every HTTP route of the running stack: the events,
points and badges APIs and the gateway (GraphQL included), as their Flask apps' url_maps
list them, so a new route is fuzzed without touching this file.

Each route gets its share of the requests, drawn by hypothesis: its own and other methods;
path parameters that name things of this run, generated ids and hostile text (lone
surrogates, invalid percent escapes, overlong values); query strings with huge numbers,
out-of-range dates and forged cursors; bodies that are valid envelopes with mutated
fields, or hostile bytes (JSON nested 20,000 deep, invalid UTF-8, lone surrogates, digit
strings past Python's int limit, strings near the size limits); and no, wrong, malformed
or valid tokens. GraphQL bodies come from hypothesis-graphql (valid and invalid
operations) and from documents of our own carrying hostile variables.

No answer may be a 5xx, and every 4xx must be JSON naming what is wrong (the services'
`{"error": {"code", "message"}}`, the gateway's `{"errors": [{"message"}]}`). Every
offending request is collected and printed at the end, so one run shows them all.

Nothing here erases what other tests rely on: anything that writes (PUT, POST, DELETE)
names an id of its own (`fz...`), never a shared item or another test's employee."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import graphql
import hypothesis_graphql
import jwt
import pytest
import requests
import yaml
from hypothesis import HealthCheck, Phase, assume, example, given, seed, settings
from hypothesis import strategies as st

from gateway.auth import issue_dev_token
from tests.e2e.support import SOURCE_OF_TYPE

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
SDL = (ROOT / "gateway" / "schema.graphql").read_text(encoding="utf-8")
BADGE_CATALOGUE = yaml.safe_load(
    (ROOT / "services" / "badges" / "catalogue" / "default.yaml").read_text(encoding="utf-8")
)

# The issue's bar. As many are drawn, shared out among the routes by weight, besides the
# item-4 inputs every route gets (`item_4_requests`); a few draws go unsent (`assume`).
MIN_REQUESTS = 5000
PLANNED_REQUESTS = 5000
WEIGHT_OF_PROBE = 1  # /healthz, /readyz, /metrics: little to find
WEIGHT_OF_ROUTE = 4
WEIGHT_OF_GRAPHQL = 55  # one route, but every query and mutation behind it
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TIMEOUT_S = 30
# gunicorn refuses a request line over 4094 bytes with an HTML 400 of its own.
MAX_TARGET_BYTES = 4000

# The gateway limits anonymous callers per IP (600 a minute): the fuzz stays far below, so
# that a test calling anonymously after it is not refused.
MAX_ANONYMOUS_GATEWAY_REQUESTS = 150
ANONYMOUS_DRAW = 7  # of 0..19, away from the bounds hypothesis favours

# --- how the routes are found ------------------------------------------------------------

# In a process of its own: creating the apps registers mongoengine connections and
# clients this test process has no use for.
ROUTE_DUMP = """
import json, sys
from gateway.app import create_app as gateway
from services.badges.entrypoints.app import create_app as badges
from services.events.entrypoints.app import create_app as events
from services.points.entrypoints.app import create_app as points
apps = {"events": events, "points": points, "badges": badges, "gateway": gateway}
rules = {
    name: [[rule.rule, sorted(rule.methods or ())] for rule in factory().url_map.iter_rules()]
    for name, factory in apps.items()
}
sys.stdout.write("\\nROUTES " + json.dumps(rules) + "\\n")
"""


@dataclass(frozen=True)
class Route:
    """One rule of one app's url_map."""

    service: str
    rule: str
    methods: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.service} {self.rule}"

    @property
    def arguments(self) -> list[tuple[str, str]]:
        """(placeholder, name) of each path parameter: `("<path:filename>", "filename")`."""
        return [(m[0], m[1]) for m in re.finditer(r"<(?:[^:<>]+:)?([^<>]+)>", self.rule)]

    @property
    def weight(self) -> int:
        if self.rule in PROBES:
            return WEIGHT_OF_PROBE
        return WEIGHT_OF_GRAPHQL if self.rule == "/graphql" else WEIGHT_OF_ROUTE


def discover_routes() -> list[Route]:
    """Every route of the four apps, from their url_maps."""
    done = subprocess.run(
        [sys.executable, "-c", ROUTE_DUMP],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("ROUTES "))
    rules: dict[str, list[list[Any]]] = json.loads(line.removeprefix("ROUTES "))
    # One route per path, whatever the number of view functions (`GET` and `PUT` of
    # `/v1/employees/<employee_id>` are two rules).
    methods_of: dict[tuple[str, str], set[str]] = {}
    for service, service_rules in rules.items():
        for rule, methods in service_rules:
            methods_of.setdefault((service, rule), set()).update(methods)
    return [Route(s, rule, tuple(sorted(methods))) for (s, rule), methods in methods_of.items()]


# --- hostile values ------------------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


FORGED_CURSORS = (
    b64(b"o:99999999999999999999999"),
    b64(b"o:-1"),
    b64(b"o:abc"),
    b64(b"o:" + b"9" * 1500),
    b64(b"\xff\xfe\xfd"),
    b64(b'{"o": 1}'),
    b64(b"o:1") + ".forged-signature",
    "not base64 !",
    "====",
    "a.b.c",
    "",
)
# Forged cursors of the gateway's own format (base64 of `[service cursor, skip]`).
GATEWAY_CURSORS = (
    b64(b"[" * 20_000 + b"]" * 20_000),
    b64(b'["\\ud800", 0]'),
    b64(b'["o:99999999999999999999999", 0]'),
    b64(b"[null, 99999999999]"),
    b64(b"[null, -1]"),
    b64(b'[{"a": 1}, 0]'),
)
HOSTILE_DATES = (
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "2026-13-01",
    "2026-01-15",
    "+002026-01-01",
    "2026-W60",
    "2026-01-01T25:00:00Z",
    "99999999999999999999",
    "now",
)
HUGE_NUMBERS = ("99999999999999999999999", "-99999999999999999999999", "1e309", "NaN", "-1", "0")
LONE_SURROGATES = ("\ud800", "\udfff", "a\udc80b")
# Already percent-encoded path segments and query values the quoting would never make.
RAW_ESCAPES = ("%ff", "%ED%A0%80", "%C0%AF", "%00", "%2e%2e", "..", "%", "%zz", "%E2%82")

texts = st.text(max_size=24)
long_texts = st.text(min_size=129, max_size=400)
hostile_text = st.one_of(
    texts, long_texts, st.sampled_from(LONE_SURROGATES), st.sampled_from(HUGE_NUMBERS)
)


def encoded(text: str) -> str:
    """A path segment or query value, percent-encoded as UTF-8 (lone surrogates too, as
    the invalid UTF-8 a careless client would send)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


# JSON values that break the type, range or shape a field wants.
HOSTILE_JSON_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    2**63,
    10**40,
    1.5,
    float("inf"),
    "",
    " ",
    "x" * 3000,
    *LONE_SURROGATES,
    "a\x00b",
    [],
    {},
    {"$gt": ""},
    {"$where": "sleep(1000)"},
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "2999-01-01T00:00:00Z",
)
# Copies: a later mutation may add to a drawn list or object, and must not change the
# constant (hypothesis would see its own strategy change under it).
hostile_json = st.one_of(
    st.sampled_from(HOSTILE_JSON_VALUES).map(copy.deepcopy),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)

# Whole bodies no parser should be trusted with.
HOSTILE_BODIES: tuple[bytes, ...] = (
    deep_json(20_000).encode(),
    ('{"a":' * 20_000 + "1" + "}" * 20_000).encode(),
    ('{"id": "x", "data": ' + deep_json(20_000) + "}").encode(),
    b'{"id": "\xff\xfe"}',
    b"\xff",
    b"\xc3\x28",
    b'{"id": "\xed\xa0\x80"}',
    b'{"id": "\\ud800", "employee_id": "\\udfff"}',
    b'{"reason": "\\ud800"}',
    b'{"query": "{ badges { id } }", "variables": {"x": "\\ud800"}}',
    b'{"query": "{ badges { id } }", "variables": {"x": ' + b"9" * 5000 + b"}}",
    b'{"a": 1e999}',
    b'{"a": NaN, "b": -Infinity}',
    b'{"a": ' + b"9" * 5000 + b"}",
    b'{"first": -' + b"9" * 5000 + b"}",
    b"",
    b"null",
    b"[]",
    b"1",
    b'"text"',
    b"{",
    b'{"a": 1,}',
    b'{"a": 1}{"b": 2}',
    b'{"a": 1, "a": 2}',
    b"\xef\xbb\xbf{}",
    '{"a": 1}'.encode("utf-16"),
    json.dumps({"x": "a" * 60_000}).encode(),
    json.dumps({"x": "a" * 900_000}).encode(),
    json.dumps({"x": "a" * 1_100_000}).encode(),
)
hostile_bodies = st.sampled_from(HOSTILE_BODIES)

CONTENT_TYPES = (
    "application/json",
    "application/json",
    "application/json",
    "application/json",
    None,
    "text/plain",
    "application/json; charset=utf-16",
    "application/x-www-form-urlencoded",
    "application/ld+json",
    "multipart/form-data; boundary=x",
)
OTHER_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PROPFIND")


def target_length(url: str) -> int:
    """The length of the request target as sent (requests escapes every `%` of a URL
    holding one that is not followed by two hex digits)."""
    return len(requests.Request("GET", url).prepare().path_url)


def dump(value: Any) -> bytes:
    """JSON bytes as a client would send them (lone surrogates as `\\ud800` escapes)."""
    return json.dumps(value).encode()


@st.composite
def mutated(draw: st.DrawFn, bases: st.SearchStrategy[Any]) -> Any:
    """A value of `bases` with up to three of its fields (at any depth) set to a hostile
    value, removed, or joined by a field nobody expects."""
    value = copy.deepcopy(draw(bases))
    for _ in range(draw(st.integers(0, 3))):
        containers = list(_containers(value))
        if not containers:
            break
        container = containers[draw(st.integers(0, len(containers) - 1))]
        keys = list(container) if isinstance(container, dict) else list(range(len(container)))
        action = draw(st.sampled_from(("set", "set", "delete", "add")))
        if action == "add" or not keys:
            if isinstance(container, dict):
                container[draw(texts)] = draw(hostile_json)
            else:
                container.append(draw(hostile_json))
            continue
        key = keys[draw(st.integers(0, len(keys) - 1))]
        if action == "delete":
            del container[key]
        else:
            container[key] = draw(hostile_json)
    return value


def _containers(value: Any) -> Iterable[dict[str, Any] | list[Any]]:
    if isinstance(value, dict | list):
        yield value
        for child in value.values() if isinstance(value, dict) else value:
            yield from _containers(child)


# --- what is sent ------------------------------------------------------------------------


@dataclass(frozen=True)
class FuzzRequest:
    """One request, printed as it was sent when it fails."""

    route: str
    method: str
    url: str
    headers: dict[str, str | bytes]
    body: bytes | None = None

    def __repr__(self) -> str:
        body = "" if self.body is None else f" body={self.body[:400]!r}"
        if self.body is not None and len(self.body) > 400:
            body += f"...({len(self.body)} bytes)"
        headers = {k: v[:80] for k, v in self.headers.items()}
        return f"{self.method} {self.url[:600]} headers={headers}{_claims(self.headers)}{body}"


def _claims(headers: dict[str, str | bytes]) -> str:
    """The claims of a JWT bearer token, which the truncated header does not show."""
    header = headers.get("Authorization")
    token = header.removeprefix("Bearer ") if isinstance(header, str) else ""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    return f" jwt_claims={json.dumps(claims)}"


@dataclass
class Tally:
    """Requests sent per route, and every answer that broke the rules."""

    per_route: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[tuple[FuzzRequest, str]] = field(default_factory=list)
    seconds: Counter[str] = field(default_factory=Counter)
    anonymous_gateway: int = 0

    @property
    def total(self) -> int:
        return sum(self.per_route.values())

    def report(self) -> str:
        kinds: Counter[str] = Counter()
        shown: list[str] = []
        for request, problem in self.failures:
            kind = f"{request.route} {request.method}: {problem[:160]}"
            kinds[kind] += 1
            if kinds[kind] == 1:
                shown.append(f"- {problem[:600]}\n  {request!r}")
        head = f"{len(self.failures)} bad answers, {len(kinds)} kinds:\n"
        return head + "\n".join(shown[:40])


@dataclass(frozen=True)
class FuzzWorld:
    """What the strategies draw from: the routes, where they answer, who may call."""

    routes: list[Route]
    base_urls: dict[str, str]
    settings: Any
    employees: tuple[str, ...]
    event_ids: tuple[str, ...]
    internal_urls: tuple[str, ...]

    def examples_for(self, route: Route) -> int:
        total_weight = sum(r.weight for r in self.routes)
        return -(-PLANNED_REQUESTS * route.weight // total_weight)


def bearer(token: str) -> dict[str, str | bytes]:
    return {"Authorization": f"Bearer {token}"}


def service_credentials(world: FuzzWorld) -> st.SearchStrategy[dict[str, str | bytes]]:
    """The services' callers: mostly the right tokens, else none, wrong or malformed."""
    service, admin = world.settings.service_token, world.settings.admin_token
    choices: list[dict[str, str | bytes]] = [
        *[bearer(service)] * 4,
        *[bearer(admin)] * 3,
        # The internal tools' own tokens (the events door says who speaks by them).
        *[bearer(token) for token in world.settings.tool_tokens().values()],
        {},
        bearer("wrong-token"),
        bearer(service + "x"),
        {"Authorization": f"bearer   {admin}  "},
        {"Authorization": "Basic " + b64(b"admin:admin")},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer \t"},
        bearer("x" * 4000),
        {"Authorization": b"Bearer \xff\xfe"},
        {"Authorization": service},
    ]
    return st.sampled_from(choices)


def gateway_credentials(world: FuzzWorld) -> st.SearchStrategy[dict[str, str | bytes]]:
    """The gateway's callers: employees of this run, administrators (with generated or
    hostile subjects), anonymous, and every way a JWT can be wrong."""
    settings = world.settings
    claims = {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "exp": 4102444800}

    def signed(secret: str = settings.jwt_secret, **extra: Any) -> dict[str, str | bytes]:
        return bearer(jwt.encode({**claims, **extra}, secret, algorithm="HS256"))

    header_none = b64(b'{"alg":"none","typ":"JWT"}').rstrip("=")
    payload = b64(dump({**claims, "sub": world.employees[0], "roles": ["admin"]})).rstrip("=")
    odd: list[dict[str, str | bytes]] = [
        bearer(issue_dev_token(settings, world.employees[0], (), ttl_s=-3600)),
        signed("not-the-secret-at-all-not-at-all", sub=world.employees[0]),
        signed(sub=world.employees[0], aud="someone-else"),
        signed(sub=world.employees[0], iss="https://evil.example"),
        signed(sub=world.employees[0], exp="tomorrow"),
        signed(roles=["admin"]),
        signed(sub=12345, roles=["admin"]),
        signed(sub="x" * 129, roles=["admin"]),
        signed(sub="", roles=["admin"]),
        *[signed(sub=text, roles=["admin"]) for text in LONE_SURROGATES],
        signed(sub="fz-\x00-nul", roles=["admin"]),
        signed(sub=world.employees[1], roles="admin reader"),
        signed(sub=world.employees[1], roles=[1, 2]),
        signed(sub=world.employees[1], roles={"admin": True}),
        bearer(f"{header_none}.{payload}."),
        bearer(issue_dev_token(settings, "fz-not-in-the-directory")),
        bearer("garbage"),
        bearer("a.b.c"),
        {"Authorization": "Basic " + b64(b"admin:admin")},
        {"Authorization": b"Bearer \xff\xfe"},
        {"Authorization": "Bearer"},
    ]
    employees = st.sampled_from([bearer(issue_dev_token(settings, e)) for e in world.employees])
    admins = st.integers(0, 10**9).map(
        lambda n: bearer(issue_dev_token(settings, f"fz-admin-{n}", ("admin",)))
    )
    callers = st.one_of(employees, admins, employees, admins, st.sampled_from(odd), admins)
    # Anonymous about one time in twenty: the gateway's per-IP limit is shared with other
    # tests. (A branch of its own would be drawn far more often: it takes fewer choices.)
    return st.tuples(st.integers(0, 19), callers).map(
        lambda drawn: {} if drawn[0] == ANONYMOUS_DRAW else drawn[1]
    )


def path_value(world: FuzzWorld, argument: str, writes: bool) -> st.SearchStrategy[str]:
    """An encoded path segment for `argument`. A request that writes only ever names an
    id of its own (`fz...`): it must not withdraw, erase or revoke what others use."""
    own = st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True).map(lambda s: f"fz-{s}")
    hostile = st.one_of(hostile_text.map(encoded), st.sampled_from(RAW_ESCAPES))
    if writes:
        return st.one_of(own, hostile.map(lambda s: f"fz{s}"))
    badges = [badge["id"] for badge in BADGE_CATALOGUE["badges"]]
    tiers = ["standard", "bronze", "silver", "gold", "platinum"]
    known: dict[str, list[str]] = {
        "employee_id": list(world.employees),
        "event_id": list(world.event_ids),
        "collection": ["contents", "courses", "surveys", "charters", "CONTENTS"],
        "item_id": ["c-77", "c-e2e", "k-ai-1", "s-e2e"],
        "survey_id": ["s-e2e"],
        "badge_id": badges,
        "tier": tiers,
    }
    if argument == "collection":
        # Mostly a real collection: past it, the item routes have more to get wrong.
        return st.one_of(st.sampled_from(known["collection"]), hostile)
    return st.one_of(st.sampled_from(known.get(argument, ["fz-1"])), own, hostile)


QUERY_VALUES: dict[str, st.SearchStrategy[str]] = {
    "first": st.one_of(st.integers(-5, 600).map(str), st.sampled_from(HUGE_NUMBERS)),
    "radius": st.one_of(st.integers(-5, 100).map(str), st.sampled_from(HUGE_NUMBERS)),
    "after": st.one_of(st.sampled_from(FORGED_CURSORS), st.binary(max_size=40).map(b64)),
    "period": st.sampled_from(["all", "day", "week", "month", "quarter", "year", "decade"]),
    "at": st.sampled_from(("2026-01-01", *HOSTILE_DATES)),
    "from": st.sampled_from(("2026-01-01", *HOSTILE_DATES)),
    "to": st.sampled_from(("2026-03-01", *HOSTILE_DATES)),
    "scope": st.sampled_from(["global", "team", "site", "world"]),
    "normalize": st.sampled_from(["total", "per_active_member", "median"]),
    "lang": st.sampled_from(["en", "fr", "de"]),
    "format": st.sampled_from(["json", "jwt", "xml"]),
    "kind": st.sampled_from(["first", "count", "points", "nope"]),
    "team_id": st.sampled_from(["team-e2e", "fz-team"]),
    "site_id": st.sampled_from(["site-e2e", "fz-site"]),
    "team": st.sampled_from(["team-e2e", "fz-team"]),
    "site": st.sampled_from(["site-e2e", "fz-site"]),
}


def query_string(world: FuzzWorld, names: tuple[str, ...]) -> st.SearchStrategy[str]:
    """`?a=b&...` of known parameters with plausible or hostile values, or junk."""
    ids = st.lists(st.one_of(st.sampled_from(world.employees), hostile_text), max_size=8).map(
        ",".join
    )
    # One more than the 500 ids a call may name, short enough to fit in a request line.
    many_ids = st.just(",".join(str(n) for n in range(501)))

    def value_of(name: str) -> st.SearchStrategy[str]:
        plausible = many_ids | ids if name == "ids" else QUERY_VALUES.get(name, texts)
        return st.one_of(
            plausible.map(encoded), hostile_text.map(encoded), st.sampled_from(RAW_ESCAPES)
        )

    pair = st.one_of([value_of(name).map(partial("{}={}".format, name)) for name in names])
    junk = st.sampled_from(["a=%ff&&=&first", "=", "&&&", "first", "first=1&first=2"])
    return st.one_of(
        st.just(""),
        st.lists(pair, max_size=5).map(lambda pairs: "?" + "&".join(pairs) if pairs else ""),
        junk.map(lambda text: "?" + text),
    )


SERVICE_QUERY_NAMES = (*QUERY_VALUES, "ids")


def envelope(world: FuzzWorld, event_type: str, event_id: str, employee: str) -> dict[str, Any]:
    """A valid-looking event of `event_type` (what the mutations start from)."""
    data_of_type: dict[str, dict[str, Any]] = {
        "content.shared": {
            "content_id": "c-e2e",
            "network": "linkedin",
            "url": "https://example.org/fz",
            "tags": ["fz"],
        },
        "share.engaged": {"share_event_id": world.event_ids[0], "clicks": 1, "reactions": 2},
        "share.deleted": {"share_event_id": "fz-not-a-share"},
        "course.completed": {
            "course_id": "k-ai-1",
            "track": "ai",
            "score": 80,
            "duration_minutes": 30,
        },
        "survey.answered": {"survey_id": "s-e2e", "question_id": "nps", "kind": "enps", "value": 9},
        "charter.acknowledged": {"charter_id": "ch-fz", "version": "1"},
        "points.adjusted": {"points": 5, "reason": "fuzz"},
        "employee.upserted": {"display_name": "Fuzz", "email": "fz@example.org"},
        "employee.erased": {},
        "nope.unknown": {},
    }
    source = {"points.adjusted": "admin", "employee.upserted": "directory"}.get(
        event_type, SOURCE_OF_TYPE.get(event_type, "gateway")
    )
    return {
        "id": event_id,
        "type": event_type,
        "schema_version": 1,
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)),
        "employee_id": employee,
        "source": source,
        "data": data_of_type[event_type],
    }


EVENT_TYPES = (
    "content.shared",
    "share.engaged",
    "share.deleted",
    "course.completed",
    "survey.answered",
    "charter.acknowledged",
    "points.adjusted",
    "employee.upserted",
    "employee.erased",
    "nope.unknown",
)


def valid_events(world: FuzzWorld) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda event_type, number, employee: envelope(world, event_type, f"fz-{number}", employee),
        st.sampled_from(EVENT_TYPES),
        st.integers(0, 10**12),
        st.one_of(st.sampled_from(world.employees), st.just("fz-nobody")),
    )


def events(world: FuzzWorld) -> st.SearchStrategy[dict[str, Any]]:
    return mutated(valid_events(world))


def json_bodies(world: FuzzWorld, route: Route) -> st.SearchStrategy[Any]:
    """Valid-looking bodies for what the route takes, mutated."""
    rule = route.rule
    if rule in ("/v1/events", "/v1/admin/events"):
        return events(world)
    if rule == "/v1/events:batch":
        return st.one_of(
            st.lists(events(world), max_size=6).map(lambda items: {"events": items}),
            st.just({"events": [envelope(world, "nope.unknown", "fz-x", "fz")] * 501}),
            mutated(st.just({"events": [envelope(world, "charter.acknowledged", "fz", "fz")]})),
        )
    if "/employees/" in rule:
        profile = {
            "display_name": "Fuzz Fuzz",
            "email": "fz@example.org",
            "team": "team-fz",
            "department": "dept-fz",
            "site": "site-fz",
            "country": "FR",
            "locale": "fr-FR",
            "fte": 0.5,
            "visibility": "pseudonym",
            "pseudonym": "Renard",
            "active": True,
        }
        return mutated(st.just(profile))
    if "/catalogue/" in rule:
        items = st.sampled_from(
            [
                {"title": "Fuzz", "url": "https://example.org/fz", "active_from": None},
                {"title": "Fuzz", "track": "ai"},
                {"questions": [{"question_id": "q", "kind": "enps"}]},
                {
                    "title": "Fuzz",
                    "url": "https://example.org/fz",
                    "active_from": "2026-01-01T00:00:00Z",
                    "active_until": "2026-02-01T00:00:00Z",
                },
            ]
        )
        return mutated(items)
    if rule.endswith("/revoke"):
        return mutated(st.just({"reason": "fuzz"}))
    return mutated(st.just({}))


def bodies(world: FuzzWorld, route: Route) -> st.SearchStrategy[bytes | None]:
    json_body = json_bodies(world, route).map(dump)
    return st.one_of(st.none(), json_body, json_body, json_body, hostile_bodies)


def http_requests(world: FuzzWorld, route: Route) -> st.SearchStrategy[FuzzRequest]:
    """Requests for a route of a service (or the gateway's probes)."""
    own_methods = st.sampled_from(
        [m for m in route.methods if m not in ("HEAD", "OPTIONS")] or ["GET"]
    )
    methods = st.one_of(own_methods, own_methods, own_methods, st.sampled_from(OTHER_METHODS))
    credentials = (
        gateway_credentials(world) if route.service == "gateway" else service_credentials(world)
    )
    # Built once: hypothesis spends more on building strategies than on drawing from them.
    segments = {
        (argument, writes): path_value(world, argument, writes)
        for _, argument in route.arguments
        for writes in (False, True)
    }
    queries = query_string(world, SERVICE_QUERY_NAMES)
    route_bodies = bodies(world, route)

    @st.composite
    def build(draw: st.DrawFn) -> FuzzRequest:
        method = draw(methods)
        writes = method not in READ_METHODS
        path = route.rule
        for placeholder, argument in route.arguments:
            path = path.replace(placeholder, draw(segments[argument, writes]), 1)
        query = draw(queries)
        headers = dict(draw(credentials))
        body = draw(route_bodies) if writes or draw(st.booleans()) else None
        if body is not None and (content_type := draw(st.sampled_from(CONTENT_TYPES))):
            headers["Content-Type"] = content_type
        url = world.base_urls[route.service] + path + query
        # Past gunicorn's request line limit, gunicorn answers itself: no app sees it.
        assume(target_length(url) < MAX_TARGET_BYTES)
        return FuzzRequest(route.name, method, url, headers, body)

    return build()


# --- GraphQL -----------------------------------------------------------------------------

DATE_NODES = st.sampled_from(("2026-01-01", *HOSTILE_DATES)).map(
    lambda v: graphql.StringValueNode(value=v)
)
CUSTOM_SCALARS = {"Date": DATE_NODES, "DateTime": DATE_NODES, "JSONString": DATE_NODES}

LEADERBOARD = """query Board($period: Period, $at: Date, $scope: Scope, $teamId: ID,
  $siteId: ID, $first: Int, $after: String, $radius: Int) {
  leaderboard(period: $period, at: $at, scope: $scope, teamId: $teamId, siteId: $siteId,
              first: $first, after: $after) {
    totalCount periodKey
    edges { cursor node { rank points isMe employee { id displayName team } } }
    pageInfo { hasNextPage endCursor }
    aroundMe(radius: $radius) { rank points entries { rank onlyVisibleToMe } }
  }
}"""
TEAM_BOARD = """query Teams($period: Period, $at: Date, $normalize: TeamNormalization,
  $first: Int, $after: String) {
  teamLeaderboard(period: $period, at: $at, normalize: $normalize, first: $first, after: $after) {
    totalCount edges { cursor node { rank teamId points score } } pageInfo { endCursor }
  }
}"""
ME = """query Me($first: Int, $after: String, $at: Date, $lang: Language) {
  me {
    id displayName pseudonym visibility fte points { allTime day week }
    rank(at: $at, scope: TEAM)
    badges { badgeId name(lang: $lang) status assertionUrl }
    badgeProgress { badgeId current nextThreshold }
    ledger(first: $first, after: $after) {
      edges { cursor node { id points explanation occurredAt } } pageInfo { endCursor }
    }
  }
}"""
EMPLOYEE = """query Someone($id: ID!, $first: Int, $after: String) {
  employee(id: $id) { id displayName team points { allTime } ledger(first: $first, after: $after) {
    edges { node { id } } } }
}"""
ENPS = """query Enps($surveyId: ID!, $teamId: ID, $siteId: ID, $from: Date, $to: Date) {
  enps(surveyId: $surveyId, teamId: $teamId, siteId: $siteId, from: $from, to: $to) {
    surveyId tooFewAnswers minGroup n enps
  }
}"""
BADGES = "query Catalogue($lang: Language) { badges { id name(lang: $lang) tiers { tier } } }"
PAYLOAD = "{ event { id type sequence data occurredAt } errors { field code message } }"
MUTATIONS = {
    name: f"mutation M($input: {input_type}!) {{ {name}(input: $input) {PAYLOAD} }}"
    for name, input_type in (
        ("recordShare", "RecordShareInput"),
        ("completeCourse", "CompleteCourseInput"),
        ("answerSurvey", "AnswerSurveyInput"),
        ("acknowledgeCharter", "AcknowledgeCharterInput"),
        ("adjustPoints", "AdjustPointsInput"),
    )
}
UPSERT = """mutation U($input: UpsertEmployeeInput!) {
  upsertEmployee(input: $input) { employee { id displayName visibility } errors { field message } }
}"""


def operations(world: FuzzWorld) -> st.SearchStrategy[dict[str, Any]]:
    """`{"query", "variables"}` of our documents, with variables valid or hostile."""
    board_variables = {
        "period": "WEEK",
        "at": "2026-01-01",
        "scope": "GLOBAL",
        "teamId": "team-e2e",
        "siteId": None,
        "first": 5,
        "after": FORGED_CURSORS[0],
        "radius": 2,
    }
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    inputs: dict[str, dict[str, Any]] = {
        "recordShare": {
            "contentId": "c-e2e",
            "network": "LINKEDIN",
            "url": "https://example.org/fz",
            "occurredAt": now,
            "tags": ["fz"],
        },
        "completeCourse": {"courseId": "k-ai-1", "track": "ai", "score": 70, "durationMinutes": 9},
        "answerSurvey": {"surveyId": "s-e2e", "questionId": "nps", "kind": "ENPS", "score": 8},
        "acknowledgeCharter": {"charterId": "ch-fz", "version": "1", "eventId": "fz-charter"},
        "adjustPoints": {"employeeId": world.employees[0], "points": 3, "reason": "fuzz"},
    }
    upsert = {
        "id": "fz-upserted",
        "displayName": "Fuzz",
        "email": "fz@example.org",
        "visibility": "PSEUDONYM",
        "pseudonym": "Loup",
        "fte": 0.8,
    }
    documents = [
        (LEADERBOARD, board_variables),
        (TEAM_BOARD, {"period": "MONTH", "normalize": "PER_ACTIVE_MEMBER", "first": 100}),
        (ME, {"first": 10, "after": FORGED_CURSORS[1], "at": "2026-01-01", "lang": "FR"}),
        (EMPLOYEE, {"id": world.employees[0], "first": 3, "after": None}),
        (ENPS, {"surveyId": "s-e2e", "from": "2026-01-01", "to": "2026-03-01"}),
        (BADGES, {"lang": "EN"}),
        (UPSERT, {"input": upsert}),
        *[(MUTATIONS[name], {"input": value}) for name, value in inputs.items()],
    ]
    return st.one_of(
        [
            mutated(_variables(variables)).map(partial(_operation, query))
            for query, variables in documents
        ]
    )


GRAPHQL_VARIABLES: dict[str, st.SearchStrategy[Any]] = {
    "after": st.sampled_from(FORGED_CURSORS + GATEWAY_CURSORS),
    "at": st.sampled_from(HOSTILE_DATES),
    "from": st.sampled_from(HOSTILE_DATES),
    "to": st.sampled_from(HOSTILE_DATES),
    "first": st.one_of(st.integers(-10, 200), st.sampled_from([2**31, 10**20])),
    "radius": st.one_of(st.integers(-10, 60), st.sampled_from([2**31, 10**20])),
    "occurredAt": st.sampled_from(HOSTILE_DATES),
}


def _variables(values: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`values`, or hostile ones where `GRAPHQL_VARIABLES` has some (at any depth)."""
    return st.fixed_dictionaries(
        {
            name: (
                _variables(value)
                if isinstance(value, dict)
                else st.one_of(st.just(value), GRAPHQL_VARIABLES[name])
                if name in GRAPHQL_VARIABLES
                else st.just(value)
            )
            for name, value in values.items()
        }
    )


def _operation(query: str, variables: Any) -> dict[str, Any]:
    return {"query": query, "variables": variables}


def generated_operations() -> st.SearchStrategy[dict[str, Any]]:
    """Operations hypothesis-graphql draws from the SDL: valid ones, and ones breaking
    the schema once (which validation must refuse, with a 200 or a 400, never a 500)."""
    options = {"custom_scalars": CUSTOM_SCALARS, "codec": None}
    documents = st.one_of(
        hypothesis_graphql.queries(SDL, **options),
        hypothesis_graphql.mutations(SDL, **options),
        hypothesis_graphql.queries(SDL, mode=hypothesis_graphql.Mode.NEGATIVE, **options),
        hypothesis_graphql.mutations(SDL, mode=hypothesis_graphql.Mode.NEGATIVE, **options),
    )
    return documents.map(lambda query: {"query": query})


ODD_OPERATIONS: tuple[Any, ...] = (
    {"query": 123},
    {"query": ""},
    {"query": None},
    {"query": "{ badges { id } }", "variables": "not an object"},
    {"query": "{ badges { id } }", "variables": [1]},
    {"query": "{ badges { id } }", "operationName": 7},
    {"query": "query A { badges { id } } query B { me { id } }"},
    {"query": "query A { badges { id } }", "operationName": "Nope"},
    {"query": "{" * 5000},
    {"query": "{ me " + "{ ledger { edges { node " * 12 + "}" * 40},
    {"query": "{ " + " ".join(f"a{n}: badges {{ id }}" for n in range(40)) + " }"},
    {"query": "{ leaderboard(first: 99999999999999999999) { totalCount } }"},
    {"query": '{ leaderboard(at: "0001-01-01", after: "\\ud800") { totalCount } }'},
    {"query": "{ badges { id } }" + " " * 70_000},
    {"query": "fragment F on Query { ...F } { ...F }"},
    {"query": "subscription { badges { id } }"},
    [{"query": "{ badges { id } }"}, {"query": "{ badges { id } }"}],
    "just a string",
)


def graphql_requests(world: FuzzWorld, route: Route) -> st.SearchStrategy[FuzzRequest]:
    """POSTs (mostly) and GETs of `/graphql`, with the gateway's callers."""
    url = world.base_urls["gateway"] + route.rule
    bodies_of_json = st.one_of(
        operations(world),
        operations(world),
        generated_operations(),
        generated_operations(),
        st.sampled_from(ODD_OPERATIONS),
    )
    credentials = gateway_credentials(world)
    languages = st.sampled_from([None, "fr-FR", "fr;q=abc", "*", "x" * 500, "\u00e9"])

    @st.composite
    def build(draw: st.DrawFn) -> FuzzRequest:
        headers = dict(draw(credentials))
        if (language := draw(languages)) is not None:
            headers["Accept-Language"] = language.encode("utf-8")
        how = draw(st.sampled_from(("post",) * 7 + ("raw", "get", "get", "other")))
        if how == "get":
            operation = draw(bodies_of_json)
            if not isinstance(operation, dict):
                operation = {"query": operation}
            pairs = []
            for name, value in operation.items():
                text = value if isinstance(value, str) else json.dumps(value)
                pairs.append(f"{name}={encoded(text)}")
            if draw(st.booleans()):
                pairs.append(f"variables={draw(st.sampled_from(RAW_ESCAPES))}")
            target = f"{url}?{'&'.join(pairs)}"
            if target_length(target) >= MAX_TARGET_BYTES:
                target = f"{url}?query={encoded('{ badges { id } }')}"
            return FuzzRequest(route.name, "GET", target, headers)
        method = "POST" if how != "other" else draw(st.sampled_from(OTHER_METHODS))
        body = draw(hostile_bodies) if how == "raw" else dump(draw(bodies_of_json))
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        if content_type is not None:
            headers["Content-Type"] = content_type
        return FuzzRequest(route.name, method, url, headers, body)

    return build()


# --- the checks --------------------------------------------------------------------------


def problem_with(world: FuzzWorld, request: FuzzRequest, response: requests.Response) -> str | None:
    """What is wrong with an answer, or None."""
    status = response.status_code
    text = response.text
    if status >= 500:
        return f"{status}: {text[:300]}"
    if "Traceback" in text:
        return f"{status} shows a stack trace: {text[:300]}"
    if request.route.startswith("gateway") and any(u in text for u in world.internal_urls):
        return f"{status} shows an internal address: {text[:300]}"
    if request.route.startswith("gateway") and _internal_graphql_error(response):
        return f"{status} holds a resolver's unexpected exception: {text[:300]}"
    if status < 400 or request.method == "HEAD":
        return None
    content_type = response.headers.get("Content-Type", "")
    if "json" not in content_type:
        return f"{status} is not JSON ({content_type}): {text[:200]}"
    try:
        body = response.json()
    except ValueError:
        return f"{status} says JSON but is not: {text[:200]}"
    if _names_the_error(body, gateway=request.route.startswith("gateway")):
        return None
    if status == 410 and isinstance(body, dict) and body.get("revoked") is True:
        return None  # a revoked Open Badges assertion is answered, flagged, with 410
    return f"{status} does not say what is wrong: {text[:300]}"


def _internal_graphql_error(response: requests.Response) -> bool:
    """True when a GraphQL answer says a resolver failed unexpectedly (code INTERNAL):
    the 500 of a field, answered with a 200."""
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "INTERNAL"
        for e in errors
    )


def _names_the_error(body: Any, gateway: bool) -> bool:
    if not isinstance(body, dict):
        return False
    error = body.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return isinstance(code, str) and bool(code) and isinstance(message, str) and bool(message)
    errors = body.get("errors")
    return (
        gateway
        and isinstance(errors, list)
        and bool(errors)
        and all(isinstance(e, dict) and str(e.get("message") or "").strip() for e in errors)
    )


class Sender:
    """Sends requests (one keep-alive session per service) and tallies the answers."""

    def __init__(self, world: FuzzWorld, tally: Tally) -> None:
        self.world = world
        self.tally = tally
        self.sessions: dict[str, requests.Session] = {}

    def __call__(self, request: FuzzRequest) -> None:
        tally = self.tally
        service = request.route.split(" ", 1)[0]
        if request.route == "gateway /graphql" and "Authorization" not in request.headers:
            tally.anonymous_gateway += 1
            if tally.anonymous_gateway > MAX_ANONYMOUS_GATEWAY_REQUESTS:
                # Past the share of the per-IP limit the fuzz may use: as an employee.
                token = issue_dev_token(self.world.settings, self.world.employees[-1])
                request = replace(request, headers={**request.headers, **bearer(token)})
        session = self.sessions.setdefault(service, requests.Session())
        tally.per_route[request.route] += 1
        try:
            response = session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=TIMEOUT_S,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            tally.failures.append((request, f"no answer: {error!r}"[:300]))
            self.sessions.pop(service).close()
            return
        with response:
            tally.statuses[response.status_code] += 1
            problem = problem_with(self.world, request, response)
        if problem is not None:
            tally.failures.append((request, problem))

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()


def fuzz(route: Route, world: FuzzWorld, send: Callable[[FuzzRequest], None]) -> None:
    """Send `route` its share of the requests, seeded by its name."""
    strategy = (
        graphql_requests(world, route) if route.rule == "/graphql" else http_requests(world, route)
    )

    def one(request: FuzzRequest) -> None:
        send(request)

    test = given(strategy)(one)
    for request in item_4_requests(world, route):
        test = example(request)(test)
    test = settings(
        max_examples=world.examples_for(route),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )(test)
    seed(zlib.crc32(route.name.encode()))(test)()


# Issue 14, item 4: what must answer a 4xx naming what is wrong on every route. Each route
# gets these every run, whatever the draws, besides its share of generated requests.
ITEM_4_BODIES: tuple[bytes, ...] = (
    deep_json(20_000).encode(),
    b'{"id": "\xff\xfe", "data": {}}',
    b'{"id": "\\ud800", "employee_id": "\\ud800", "reason": "\\ud800", "title": "\\ud800"}',
    b'{"occurred_at": "0001-01-01T00:00:00+05:00", "active_from": "0001-01-01T00:00:00+05:00"}',
    b'{"a": ' + b"9" * 5000 + b"}",
)
ITEM_4_QUERY = "?" + "&".join(
    f"{name}={encoded(value)}"
    for name, value in (
        ("after", b64(b"o:99999999999999999999999")),
        ("at", "0001-01-01T00:00:00+05:00"),
        ("from", "0001-01-01"),
        ("to", "9999-12-31"),
        ("first", "99999999999999999999999"),
        ("ids", "\ud800"),
    )
)
ITEM_4_GRAPHQL: tuple[Any, ...] = (
    b'{"query": "{ badges { id } }", "variables": ' + deep_json(20_000).encode() + b"}",
    b'{"query": "{ badges { id \xff } }"}',
    b'{"query": "query($a: String) { leaderboard(after: $a) { totalCount } }",'
    b' "variables": {"a": "\\ud800"}}',
    b'{"query": "{ badges { id } }", "variables": {"a": ' + b"9" * 5000 + b"}}",
    {
        "query": MUTATIONS["recordShare"],
        "variables": {
            "input": {
                "contentId": "c-e2e",
                "network": "LINKEDIN",
                "url": "https://example.org/fz",
                "occurredAt": "0001-01-01T00:00:00+05:00",
            }
        },
    },
    *[
        {"query": LEADERBOARD, "variables": {"after": cursor}}
        for cursor in (b64(b"o:99999999999999999999999"), *GATEWAY_CURSORS[:2])
    ],
    *[
        {"query": ME, "variables": {"after": cursor, "at": "0001-01-01"}}
        for cursor in (b64(b"o:99999999999999999999999"), GATEWAY_CURSORS[0])
    ],
)


def item_4_requests(world: FuzzWorld, route: Route) -> list[FuzzRequest]:
    """The issue's hostile inputs sent to `route` by a caller it lets in."""
    base = world.base_urls[route.service]
    if route.rule == "/graphql":
        headers = bearer(issue_dev_token(world.settings, world.employees[0]))
        json_headers = {**headers, "Content-Type": "application/json"}
        posts = [
            FuzzRequest(route.name, "POST", base + route.rule, json_headers, b)
            for b in (body if isinstance(body, bytes) else dump(body) for body in ITEM_4_GRAPHQL)
        ]
        query = encoded(LEADERBOARD)
        gets = [
            FuzzRequest(route.name, "GET", f"{base}/graphql?query={query}&variables={v}", headers)
            for v in ("%ED%A0%80", encoded(json.dumps({"after": GATEWAY_CURSORS[1]})))
        ]
        return posts + gets
    headers = bearer(world.settings.admin_token)
    surrogate = "%ED%A0%80"  # `\ud800` as a careless client encodes it in a path
    requests_: list[FuzzRequest] = []
    for method in [m for m in route.methods if m not in ("HEAD", "OPTIONS")]:
        writes = method not in READ_METHODS
        hostile, plain = route.rule, route.rule
        for placeholder, argument in route.arguments:
            hostile = hostile.replace(placeholder, f"fz{surrogate}" if writes else surrogate, 1)
            plain = plain.replace(placeholder, "contents" if argument == "collection" else "fz-4")
        requests_.append(FuzzRequest(route.name, method, base + hostile + ITEM_4_QUERY, headers))
        if writes:
            json_headers = {**headers, "Content-Type": "application/json"}
            requests_ += [
                FuzzRequest(route.name, method, base + plain, json_headers, body)
                for body in ITEM_4_BODIES
            ]
    return requests_


# --- the test ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(running_stack: Any) -> FuzzWorld:
    team = "team-fz"
    employees = tuple(running_stack.add_employee("fz", team=team) for _ in range(12))
    shared = running_stack.post_event(
        employees[0],
        "content.shared",
        {"content_id": "c-e2e", "network": "linkedin", "url": "https://example.org/fz"},
    )
    urls = {
        "events": running_stack.events_url,
        "points": running_stack.points_url,
        "badges": running_stack.badges_url,
        "gateway": running_stack.graphql_url.removesuffix("/graphql"),
    }
    return FuzzWorld(
        routes=discover_routes(),
        base_urls=urls,
        settings=running_stack.settings,
        employees=employees,
        event_ids=(shared,),
        internal_urls=(
            running_stack.events_url,
            running_stack.points_url,
            running_stack.badges_url,
        ),
    )


def test_no_request_to_any_route_gets_a_server_error_or_a_nameless_error(
    world: FuzzWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = world.routes
    assert {"events", "points", "badges", "gateway"} == {r.service for r in routes}
    assert any(r.rule == "/graphql" for r in routes) and any(r.rule == "/v1/events" for r in routes)
    tally = Tally()
    send = Sender(world, tally)
    started = time.monotonic()
    try:
        for route in routes:
            route_started = time.monotonic()
            fuzz(route, world, send)
            tally.seconds[route.name] = time.monotonic() - route_started
    finally:
        send.close()
    elapsed = time.monotonic() - started
    with capsys.disabled():
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items()))
        print(
            f"\nHTTP fuzz: {tally.total} requests over {len(routes)} routes"
            f" in {elapsed:.0f}s ({statuses}); slowest:"
            + ", ".join(f" {name} {t:.0f}s" for name, t in tally.seconds.most_common(3))
        )
    assert not tally.failures, tally.report()
    assert tally.total >= MIN_REQUESTS
    assert [r.name for r in routes if tally.per_route[r.name] == 0] == []
    for url in world.base_urls.values():
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
