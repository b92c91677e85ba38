"""A demo organisation, generated from a seed and loaded through the events service's API.

About 300 employees in 12 teams across 4 European sites, then four weeks of activity
ending now: shares of company content and the engagement they drew, completed courses,
the social-media charter, and two eNPS pulses. Activity is heavy-tailed: a few champions
share every other day, most employees share now and then, some never do.

Generation is pure and deterministic. Event ids depend only on the seed, never on the
date, so loading the demo again (another day, another `make run`) sends the same ids and
the events service keeps one copy of each; only the timestamps follow the clock.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cercle_common.identifiers import new_ulid
from cercle_common.settings import ENVIRONMENT

DEFAULT_SEED = 2026
EMPLOYEE_COUNT = 300
# Within the events service's back-dating limit (EVENT_MAX_AGE_DAYS, 30 by default).
DAYS = 28
# Small enough that a batch is judged well within the API workers' request timeout,
# while the relay and the consumers load the same database.
BATCH_SIZE = 100
EMAIL_DOMAIN = "demo.cercle.example"
# Each action comes from the tool the events service trusts with it, as in a real
# deployment: shares and the charter from the employees' apps (through the gateway), what
# a share drew from the social-network tracker, courses from the LMS, answers from the
# survey tool.
SOURCE_OF_TYPE = {
    "content.shared": "gateway",
    "charter.acknowledged": "gateway",
    "share.engaged": "social-tracker",
    "course.completed": "lms",
    "survey.answered": "survey-tool",
}

Say = Callable[[str], None]
Envelope = dict[str, Any]

# Every id is a ULID whose time part is this fixed instant and whose random part is a hash
# of the seed and the event's place in the story: stable across days, unique, valid ULIDs.
_ID_EPOCH_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)

FIRST_NAMES = (
    "Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Jade", "Louise", "Emma", "Zoé",
    "Juliette", "Margaux", "Clémence", "Anaïs", "Élodie", "Hélène", "Nathalie", "Sophie",
    "Lucas", "Hugo", "Louis", "Gabriel", "Arthur", "Jules", "Raphaël", "Théo", "Nathan",
    "Mathieu", "Antoine", "Julien", "Nicolas", "Thomas", "Maxime", "Quentin", "Benoît",
    "Yannick", "Karim", "Mehdi", "Amina", "Yasmine", "Sofia", "Giulia", "Marco", "Lorenzo",
    "Lukas", "Jonas", "Leonie", "Hannah", "Mia", "Felix", "Matthias", "Katarzyna", "Piotr",
    "Agnieszka", "João", "Inês", "Beatriz", "Tiago", "Carmen", "Javier", "Lucía", "Pablo",
    "Ingrid", "Lars", "Astrid", "Sven", "Eva", "Pieter", "Sanne", "Niamh", "Ciarán",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand",
    "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont",
    "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau",
    "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson",
    "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Rossi",
    "Russo", "Bianchi", "Ferreira", "Silva", "Santos", "Costa", "Kowalski", "Nowak",
    "Wiśniewska", "Jansen", "de Vries", "O'Brien", "Fernández", "González", "Lindqvist",
)  # fmt: skip
PSEUDONYM_WORDS = (
    ("Renard", "Hibou", "Lynx", "Faucon", "Loutre", "Castor", "Héron", "Colibri", "Blaireau"),
    ("Agile", "Curieux", "Discret", "Rapide", "Malin", "Serein", "Audacieux", "Lumineux"),
)


@dataclass(frozen=True)
class Site:
    """An office: where employees work, which country and language."""

    name: str
    country: str
    locale: str
    weight: int


SITES = (
    Site("paris", "FR", "fr-FR", 40),
    Site("lyon", "FR", "fr-FR", 25),
    Site("berlin", "DE", "de-DE", 20),
    Site("lisbon", "PT", "pt-PT", 15),
)

# team -> department
TEAMS = {
    "brand": "marketing",
    "content-studio": "marketing",
    "corporate-comms": "communication",
    "enterprise-sales": "sales",
    "smb-sales": "sales",
    "platform": "engineering",
    "mobile": "engineering",
    "data": "engineering",
    "talent": "people",
    "customer-support": "customer-success",
    "onboarding": "customer-success",
    "finance": "finance",
}
# Marketing and sales people share more, as they do in real organisations.
TEAM_ACTIVITY = {
    "brand": 2.0, "content-studio": 2.0, "corporate-comms": 1.8, "enterprise-sales": 1.5,
    "smb-sales": 1.4, "talent": 1.3, "platform": 0.7, "mobile": 0.7, "data": 0.8,
    "customer-support": 0.9, "onboarding": 1.0, "finance": 0.5,
}  # fmt: skip

NETWORKS = {"linkedin": 55, "x": 14, "facebook": 10, "xing": 8, "instagram": 8, "other": 5}
NETWORK_URLS = {
    "linkedin": "https://www.linkedin.com/feed/update/urn:li:activity:{n}",
    "x": "https://x.com/i/status/{n}",
    "facebook": "https://www.facebook.com/share/p/{n}",
    "xing": "https://www.xing.com/news/posts/{n}",
    "instagram": "https://www.instagram.com/p/{n}",
    "other": "https://blog.cercle.example/shares/{n}",
}
TAGS = (
    "employer-brand", "product", "csr", "recruiting", "events", "innovation",
    "customer-story", "culture",
)  # fmt: skip
CONTENT_COUNT = 48
COURSES = (
    ("course-social-selling-101", "social-selling"),
    ("course-social-selling-201", "social-selling"),
    ("course-linkedin-profile", "personal-branding"),
    ("course-storytelling", "personal-branding"),
    ("course-video-basics", "personal-branding"),
    ("course-data-literacy", "digital-skills"),
    ("course-ai-at-work", "digital-skills"),
    ("course-collaboration-tools", "digital-skills"),
    ("course-cybersecurity", "digital-skills"),
    ("course-gdpr-essentials", "compliance"),
    ("course-social-media-policy", "compliance"),
    ("course-inclusive-writing", "communication"),
)
CHARTER_ID = "charter-social-media"
CHARTER_VERSION = "2026.1"
# (survey id, day it opens, participation, mean score): the second pulse shows detractors
# turning into promoters as the programme goes on.
SURVEYS = (("enps-pulse-1", 5, 0.55, 6.4), ("enps-pulse-2", 23, 0.62, 7.4))
SURVEY_QUESTION = "q-recommend-employer"


@dataclass(frozen=True)
class Employee:
    """One employee, in the shape `PUT /v1/employees/<id>` takes (plus the id)."""

    id: str
    display_name: str
    email: str
    team: str
    department: str
    site: str
    country: str
    locale: str
    fte: float
    visibility: str
    pseudonym: str | None
    active: bool
    # How much this person shares: 1 is occasional; the tail goes past 30.
    activity: float

    def directory_entry(self) -> dict[str, Any]:
        """The JSON body of `PUT /v1/employees/<id>`."""
        body = asdict(self)
        del body["id"], body["activity"]
        return body


def build_directory(seed: int = DEFAULT_SEED, count: int = EMPLOYEE_COUNT) -> list[Employee]:
    """`count` employees, identical for the same seed."""
    rng = random.Random(f"{seed}:directory")
    emails: set[str] = set()
    employees = []
    for index in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        site = rng.choices(SITES, weights=[s.weight for s in SITES])[0]
        team = rng.choice(list(TEAMS))
        visibility = rng.choices(["visible", "pseudonym", "hidden"], weights=[82, 12, 6])[0]
        pseudonym = (
            f"{rng.choice(PSEUDONYM_WORDS[0])} {rng.choice(PSEUDONYM_WORDS[1])}"
            if visibility == "pseudonym"
            else None
        )
        # Pareto with alpha 1.2: heavy-tailed, as advocacy programmes are in practice.
        activity = min(rng.paretovariate(1.2), 40.0) * TEAM_ACTIVITY[team]
        employees.append(
            Employee(
                id=f"e-{1001 + index}",
                display_name=f"{first} {last}",
                email=_unique_email(first, last, emails),
                team=team,
                department=TEAMS[team],
                site=site.name,
                country=site.country,
                locale=site.locale,
                fte=rng.choices([1.0, 0.8, 0.5], weights=[85, 10, 5])[0],
                visibility=visibility,
                pseudonym=pseudonym,
                active=rng.random() > 0.02,
                activity=round(activity, 3),
            )
        )
    return employees


def _unique_email(first: str, last: str, taken: set[str]) -> str:
    ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore")
    local = ascii_name.decode().lower().replace(" ", "").replace("'", "")
    candidate, number = local, 1
    while candidate in taken:
        number += 1
        candidate = f"{local}{number}"
    taken.add(candidate)
    return f"{candidate}@{EMAIL_DOMAIN}"


def demo_event_id(seed: int, *parts: object) -> str:
    """A ULID-shaped id that depends only on the seed and `parts`."""
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return new_ulid(at_ms=_ID_EPOCH_MS, randomness=digest[:10])


def default_end() -> datetime:
    """A minute ago, to the second: the demo's activity ends there, never in the future."""
    return (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)


def build_events(
    employees: Sequence[Employee], end: datetime, seed: int = DEFAULT_SEED
) -> list[Envelope]:
    """Four weeks of activity ending at `end`, as event envelopes sorted by time."""
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    end = end.astimezone(UTC).replace(microsecond=0)
    events: list[Envelope] = []
    for employee in employees:
        if employee.active:
            events.extend(_employee_events(employee, end, seed))
    events.sort(key=lambda event: (event["occurred_at"], event["id"]))
    return events


def _employee_events(employee: Employee, end: datetime, seed: int) -> Iterator[Envelope]:
    # One random stream per employee: adding an employee never changes the others' stories.
    rng = random.Random(f"{seed}:{employee.id}")
    clock = _Clock(end, rng)

    def envelope(kind: str, n: object, at: datetime, data: dict[str, Any]) -> Envelope:
        return {
            "id": demo_event_id(seed, employee.id, kind, n),
            "type": kind,
            "schema_version": 1,
            "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "employee_id": employee.id,
            "source": SOURCE_OF_TYPE[kind],
            "data": data,
        }

    # The charter comes first for most: it is part of joining the programme.
    if rng.random() < 0.5 + min(employee.activity, 5) / 10:
        at = clock.on_day(min(int(rng.expovariate(1 / 6)), DAYS - 1))
        yield envelope(
            "charter.acknowledged", 0, at, {"charter_id": CHARTER_ID, "version": CHARTER_VERSION}
        )

    shares_per_day = 0.035 * employee.activity
    seen_content: set[int] = set()
    share_number = 0
    for day in range(DAYS):
        for _ in range(_poisson(rng, shares_per_day)):
            content = _pick_content(rng, day, seen_content)
            network = rng.choices(list(NETWORKS), weights=list(NETWORKS.values()))[0]
            shared_at = clock.on_day(day)
            share = envelope(
                "content.shared",
                share_number,
                shared_at,
                {
                    "content_id": f"c-{101 + content}",
                    "network": network,
                    "url": NETWORK_URLS[network].format(n=rng.randrange(10**9, 10**10)),
                    "tags": _content_tags(seed, content),
                },
            )
            yield share
            yield from _engagements(rng, share, share_number, shared_at, end, envelope)
            share_number += 1

    courses = min(_poisson(rng, 0.4 + 0.25 * math.sqrt(employee.activity)), len(COURSES))
    for number, (course_id, track) in enumerate(rng.sample(COURSES, courses)):
        data = {
            "course_id": course_id,
            "track": track,
            "score": min(100, max(0, round(rng.gauss(82, 12)))),
            "duration_minutes": rng.choice([15, 20, 30, 45, 60, 90]),
        }
        yield envelope("course.completed", number, clock.on_day(rng.randrange(DAYS)), data)

    for survey_id, opens, participation, mean in SURVEYS:
        if rng.random() < participation:
            # Ambassadors are more often promoters.
            score = rng.gauss(mean + 0.4 * math.log(employee.activity), 2.0)
            data = {
                "survey_id": survey_id,
                "question_id": SURVEY_QUESTION,
                "kind": "enps",
                "value": min(10, max(0, round(score))),
            }
            at = clock.on_day(opens + min(int(rng.expovariate(1 / 1.5)), 4))
            yield envelope("survey.answered", survey_id, at, data)


def _engagements(
    rng: random.Random,
    share: Envelope,
    share_number: int,
    shared_at: datetime,
    end: datetime,
    envelope: Callable[[str, object, datetime, dict[str, Any]], Envelope],
) -> Iterator[Envelope]:
    """Reports of what a share drew, as running totals, a few hours to days apart."""
    reports = rng.choices([0, 1, 2, 3], weights=[30, 40, 20, 10])[0]
    clicks = reactions = comments = reshares = 0
    at = shared_at
    for report in range(reports):
        # Reach is heavy-tailed too: most posts draw a handful, a few take off.
        clicks += int(rng.paretovariate(1.6) * 4)
        reactions += int(rng.paretovariate(1.8) * 2)
        comments += rng.choices([0, 1, 2, 4], weights=[55, 25, 15, 5])[0]
        reshares += rng.choices([0, 1, 3], weights=[75, 20, 5])[0]
        at = min(at + timedelta(hours=rng.uniform(4, 48)), end)
        data = {
            "share_event_id": share["id"],
            "clicks": clicks,
            "reactions": reactions,
            "comments": comments,
            "reshares": reshares,
        }
        yield envelope("share.engaged", share_number * 10 + report, at, data)


class _Clock:
    """Turns a day of the story (0 = four weeks ago, DAYS-1 = today) into a working-hours
    instant, never after `end`: an instant still to come today moves to the day before."""

    def __init__(self, end: datetime, rng: random.Random) -> None:
        self.end = end
        self.rng = rng
        self.midnight = end.replace(hour=0, minute=0, second=0)

    def on_day(self, day: int) -> datetime:
        """An instant between 07:00 and 18:00 UTC on `day`."""
        seconds = self.rng.randrange(7 * 3600, 18 * 3600)
        at = self.midnight - timedelta(days=DAYS - 1 - day) + timedelta(seconds=seconds)
        return at - timedelta(days=1) if at > self.end else at


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: exact and quick for the small means used here.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _pick_content(rng: random.Random, day: int, seen: set[int]) -> int:
    """Recent content, preferably not shared yet by this employee."""
    published = max(1, (day + 1) * CONTENT_COUNT // DAYS)
    recent = range(max(0, published - 8), published)
    fresh = [content for content in recent if content not in seen]
    content = rng.choice(fresh or list(recent))
    seen.add(content)
    return content


def _content_tags(seed: int, content: int) -> list[str]:
    rng = random.Random(f"{seed}:content:{content}")
    return sorted(rng.sample(TAGS, rng.randint(1, 3)))


CONTENT_TOPICS = (
    "Our new offices", "Meet the team", "Product launch", "Customer story", "We are hiring",
    "Behind the scenes", "Sustainability report", "Award", "Conference talk", "Webinar",
    "Open-source release", "Volunteering day",
)  # fmt: skip


def build_catalogue(seed: int = DEFAULT_SEED) -> list[tuple[str, str, dict[str, Any]]]:
    """What an administrator puts in the catalogue before the story starts, as
    (collection, id, body) for `PUT /v1/admin/catalogue/<collection>/<id>`: every content,
    course and survey the demo's events name."""
    items: list[tuple[str, str, dict[str, Any]]] = []
    for content in range(CONTENT_COUNT):
        topic = CONTENT_TOPICS[content % len(CONTENT_TOPICS)]
        tags = ", ".join(_content_tags(seed, content))
        body = {
            "title": f"{topic} #{content // len(CONTENT_TOPICS) + 1} ({tags})",
            "url": f"https://blog.cercle.example/content/{101 + content}",
        }
        items.append(("contents", f"c-{101 + content}", body))
    for course_id, track in COURSES:
        title = course_id.removeprefix("course-").replace("-", " ").capitalize()
        items.append(("courses", course_id, {"title": title, "track": track}))
    for survey_id, _opens, _participation, _mean in SURVEYS:
        question = {"question_id": SURVEY_QUESTION, "kind": "enps"}
        title = f"eNPS pulse {survey_id[-1]}"
        items.append(("surveys", survey_id, {"title": title, "questions": [question]}))
    return items


def batches(events: Sequence[Envelope], size: int = BATCH_SIZE) -> Iterator[list[Envelope]]:
    """Consecutive slices of at most `size` events."""
    for start in range(0, len(events), size):
        yield list(events[start : start + size])


# -- loading over HTTP ---------------------------------------------------------------------


class DemoLoadError(Exception):
    """The events service refused or did not answer while the demo was loading."""


def _admin_token() -> str:
    # The directory and the catalogue are written as an administrator (as the gateway does).
    return os.environ.get("ADMIN_TOKEN") or ENVIRONMENT["ADMIN_TOKEN"]


def _service_token() -> str:
    # Actions and reads go in as Cercle's own tools do, with the service token.
    return os.environ.get("SERVICE_TOKEN") or ENVIRONMENT["SERVICE_TOKEN"]


def _request(
    method: str, url: str, body: Any = None, timeout: float = 60.0, *, admin: bool = False
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    token = _admin_token() if admin else _service_token()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", errors="replace")[:500]
        raise DemoLoadError(f"{method} {url}: HTTP {error.code}: {detail}") from error
    except (urllib.error.URLError, OSError) as error:
        raise DemoLoadError(f"{method} {url}: {error}") from error
    return json.loads(raw) if raw.strip() else None


def load_demo(
    events_url: str,
    points_url: str | None = None,
    *,
    seed: int = DEFAULT_SEED,
    end: datetime | None = None,
    say: Say = print,
) -> int:
    """Load the catalogue, the directory and the events through the events service, then
    wait (bounded) until the points service's all-time leaderboard stops moving. Returns
    the event count."""
    employees = build_directory(seed)
    events = build_events(employees, end or default_end(), seed)
    catalogue = build_catalogue(seed)
    say(f"demo: {len(employees)} employees, {len(events)} events over {DAYS} days (seed {seed})")
    for collection, item_id, item in catalogue:
        url = f"{events_url}/v1/admin/catalogue/{collection}/{item_id}"
        _request("PUT", url, item, admin=True)
    say(f"demo: {len(catalogue)} contents, courses and surveys in the catalogue")
    for number, employee in enumerate(employees, start=1):
        url = f"{events_url}/v1/employees/{employee.id}"
        _request("PUT", url, employee.directory_entry(), admin=True)
        if number % 100 == 0 or number == len(employees):
            say(f"demo: {number}/{len(employees)} employees")
    sent = 0
    for batch in batches(events):
        result = _request("POST", f"{events_url}/v1/events:batch", {"events": batch})
        sent += len(batch)
        say(f"demo: {sent}/{len(events)} events sent{_batch_summary(result)}")
    if points_url:
        wait_for_points(points_url, say=say)
    return len(events)


def _batch_summary(result: Any) -> str:
    """The counts a batch answer holds, whatever their names (`accepted`, ...)."""
    if not isinstance(result, dict):
        return ""
    counts = [f"{key} {value}" for key, value in result.items() if isinstance(value, int)]
    counts += [f"{key} {len(value)}" for key, value in result.items() if isinstance(value, list)]
    return f" ({', '.join(counts)})" if counts else ""


def wait_for_points(
    points_url: str, timeout: float = 180.0, stable_for: float = 6.0, say: Say = print
) -> bool:
    """Poll the all-time leaderboard until it holds entries and has not changed for
    `stable_for` seconds; gives up quietly after `timeout`. True when caught up."""
    url = f"{points_url}/v1/leaderboards/employees?period=all&first=10"
    deadline = time.monotonic() + timeout
    last: Any = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            current = _request("GET", url, timeout=5.0)
        except DemoLoadError:
            current = None
        if current != last:
            last, since = current, time.monotonic()
        elif _has_entries(current) and time.monotonic() - since >= stable_for:
            say("demo: points service caught up")
            return True
        time.sleep(1.0)
    say(f"demo: points still moving after {timeout:.0f}s; carrying on")
    return False


def _has_entries(document: Any) -> bool:
    """True when a JSON document holds a non-empty list anywhere (shape-agnostic)."""
    if isinstance(document, list):
        return bool(document)
    if isinstance(document, dict):
        return any(_has_entries(value) for value in document.values())
    return False


def main(argv: list[str] | None = None) -> int:
    """`python -m devstack.demo`: load the demo into running services."""
    parser = argparse.ArgumentParser(prog="python -m devstack demo")
    parser.add_argument("--events-url", default="http://127.0.0.1:8101")
    parser.add_argument("--points-url", default="http://127.0.0.1:8102")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    try:
        load_demo(args.events_url, args.points_url, seed=args.seed)
    except DemoLoadError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
