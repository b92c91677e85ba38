"""MongoDB adapters of the badges service (database `cercle_badges`).

On the local MongoDB-compatible server (FerretDB) only an insert costs the same however
big a collection grows (a duplicate `_id` is refused as fast); a read by `_id` scans up
to its document (the whole collection when it misses), and an update, a delete and every
other filter read the whole collection (docs/database-costs.md). So the consumer's path
inserts documents with deterministic or unique `_id`s, keeps the states it owns in
memory, and reads by `_id` only the one-document sweep token and, after a refused
insert, the document that refused it. Whole collections are read where that is rare (a
consumer given partitions, the scheduled pass, erasure, the API's reads), and old
documents are removed in bulk by the scheduled pass. On MongoDB every other query is
served by an index of `services/badges/entrypoints/indexes.py`.

Collections:
- `states`, `state_versions`, `state_bodies`, `state_sweeps`: the `EmployeeBadges`
  aggregate of each employee, with its processing positions and its outbox, written
  whole as a new version (see StateStore);
- `awards`: `<award id>#<revision>`, the awards as the holders list and the APIs read
  them, one document per revision, inserted from the outbox;
- `directory`: `<employee>#<version>`, the snapshots of `cercle.employees.v1` the
  service needs (team, visibility), one document per version;
- `recipients`: the hashed Open Badges recipient of each assertion, fixed at first issue;
- `challenges`: one result per challenge, inserted once when its winners are fixed;
- `keys`: the Open Badges 3.0 signing key, created once.

The documents written before this layout (one head per employee in `states` and versions
`<employee>#<n>` holding their state, one document per award and per directory entry,
updated in place) are read as they are and replaced by the scheduled pass's clean-up
once newer documents supersede them."""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from cercle_common.errors import InfrastructureError
from cercle_common.mongo import DUPLICATE_KEY, translated_errors
from services.badges.adapters.state_documents import state_document, state_from_document
from services.badges.domain.model import EmployeeBadges

SWEEP_ID = "last"
# Never a sweep token (those are 32 hex digits): a position whose sweep is not known.
UNKNOWN_SWEEP = "unknown"
# One bulk delete by `_id` reads the whole collection on FerretDB, whatever its size.
DELETE_CHUNK = 5_000
VERSION_FIELDS = {
    "employee_id": 1,
    "incarnation": 1,
    "version": 1,
    "body": 1,
    "published": 1,
    "has_outbox": 1,
    "matched_badges": 1,
}
MARKER_FIELDS = {
    "incarnation": 1,
    "version": 1,
    "published_version": 1,
    "has_outbox": 1,
    "matched_badges": 1,
}
BODY_FIELDS = {"employee_id": 1, "incarnation": 1, "version": 1}


@dataclass(frozen=True)
class Position:
    """Where an employee's state is: version `version` of its incarnation, whose aggregate
    is the body `body` (None: inside the version document itself, as the first layout
    wrote it; version 0: nothing written yet). `published`: the body's outbox has been
    announced. `sweep`: a sweep token read before this position was known to be the
    latest (see StateStore)."""

    employee_id: str
    incarnation: str
    version: int
    body: str | None = None
    published: bool = False
    has_outbox: bool = False
    matched_badges: tuple[str, ...] = ()
    sweep: str | None = UNKNOWN_SWEEP

    @property
    def version_id(self) -> str:
        """The `_id` of this version's document."""
        return version_id(self.employee_id, self.incarnation, self.version)

    def document(self) -> dict[str, Any]:
        """The version document that records this position."""
        return {
            "_id": self.version_id,
            "employee_id": self.employee_id,
            "incarnation": self.incarnation,
            "version": self.version,
            "body": self.body,
            "published": self.published,
            "has_outbox": self.has_outbox,
            "matched_badges": list(self.matched_badges),
        }


def version_id(employee_id: str, incarnation: str, version: int) -> str:
    """`<employee>#<incarnation>.<version>`; the first layout had no incarnations, and
    its versions (`<employee>#<version>`) keep their ids."""
    if not incarnation:
        return f"{employee_id}#{version}"
    return f"{employee_id}#{incarnation}.{version}"


def position_of(
    employee_id: str,
    incarnation: str,
    version: Mapping[str, Any] | None,
    sweep: str | None,
    marker: Mapping[str, Any] | None = None,
) -> Position:
    """The position a version document records (None: the state is begun, not written).
    A version of the first layout holds its state inline; its head (`marker`) says
    whether its outbox was published."""
    if version is None:
        return Position(employee_id, incarnation, 0, sweep=sweep)
    number = int(version["version"])
    if "body" in version:
        return Position(
            employee_id,
            incarnation,
            number,
            body=version["body"],
            published=bool(version.get("published")),
            has_outbox=bool(version.get("has_outbox")),
            matched_badges=tuple(version.get("matched_badges") or ()),
            sweep=sweep,
        )
    head = marker or {}
    published = number <= int(head.get("published_version", 0))
    return Position(
        employee_id,
        incarnation,
        number,
        published=published,
        has_outbox=bool(head.get("has_outbox", True)) and not published,
        matched_badges=tuple(head.get("matched_badges") or ()),
        sweep=sweep,
    )


def latest_positions(
    markers: Iterable[Mapping[str, Any]],
    versions: Iterable[Mapping[str, Any]],
    sweep: str | None,
) -> dict[str, Position]:
    """The state of every employee with a marker: the highest version of the marker's
    incarnation (version 0 while none is written). Versions of another incarnation are
    what an erased employee left: never theirs."""
    heads = {marker["_id"]: marker for marker in markers}
    latest: dict[str, Mapping[str, Any]] = {}
    for document in versions:
        employee_id = document["employee_id"]
        head = heads.get(employee_id)
        if head is None or document.get("incarnation", "") != head.get("incarnation", ""):
            continue
        known = latest.get(employee_id)
        if known is None or document["version"] > known["version"]:
            latest[employee_id] = document
    return {
        employee_id: position_of(
            employee_id, head.get("incarnation", ""), latest.get(employee_id), sweep, head
        )
        for employee_id, head in heads.items()
    }


def garbage(
    bodies: Sequence[Mapping[str, Any]],
    versions: Sequence[Mapping[str, Any]],
    markers: Sequence[Mapping[str, Any]],
) -> tuple[list[str], list[str]]:
    """The `_id`s of the versions and bodies a sweep may remove, from reads of the three
    collections made in this order. A writer inserts the marker, then the body, then the
    version: so a body read first has its marker read after it, and is either named by a
    version read after it or still waiting for its version (above the latest: kept); a
    version read before the markers has its marker read too. What is removed: versions
    below the latest, and of erased incarnations; bodies no latest version names, at or
    below the latest (superseded, or left by a refused write), and of erased ones."""
    positions = latest_positions(markers, versions, sweep=None)
    named = {position.body for position in positions.values() if position.body}

    def superseded(document: Mapping[str, Any], keep_above: bool) -> bool:
        position = positions.get(document["employee_id"])
        if position is None or document.get("incarnation", "") != position.incarnation:
            return True
        if keep_above:
            return int(document["version"]) <= position.version
        return int(document["version"]) < position.version

    old_versions = [document["_id"] for document in versions if superseded(document, False)]
    old_bodies = [
        document["_id"]
        for document in bodies
        if document["_id"] not in named and superseded(document, True)
    ]
    return old_versions, old_bodies


# The base of a state not begun yet: its first write inserts the marker too.
BEGIN = Position("", "", 0)


@dataclass(frozen=True)
class _Write:
    """One state (or published mark) to insert over `base`."""

    base: Position
    new: Position
    marker: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    text: str | None = None


class StateStore:
    """The employees' badge states, written by inserts only, with optimistic concurrency.

    Layout. A write inserts the state's body (`state_bodies`, a unique id) and then a
    version `<employee>#<incarnation>.<n>` naming it (`state_versions`). That insert is
    the concurrency check: two writers of version n+1 collide on its `_id`; the second is
    refused, reads what the first wrote (a read that finds) and applies its change again.
    An employee's state is the highest version of its incarnation, a random name kept in
    `states/<employee>` (inserted with the first write, refused if another writer got
    there first). Erasure removes all of it; a new state starts a new incarnation, so
    whatever a late writer of the old one leaves behind is never read as the new one's.
    Publishing an outbox inserts the next version naming the same body, marked published:
    no state is rewritten for that.

    Positions. Where a state is (incarnation, version, body) is a `Position`. A store with
    `cache_size` (the consumer's, the scheduled pass's: processes that write the states
    they read) remembers every employee's position: all are read by `refresh()` (one read
    of the small `states` and `state_versions`), then moved by its own writes. A load is
    then nothing for the last `cache_size` employees' states kept in memory (keep them
    all: on FerretDB even a read that finds costs more as a collection grows), or a read
    by `_id` of a body that exists; an employee it does not know has no state (nothing
    is probed); a position left stale by another writer only costs a refused insert and
    one read. A store without looks each state up when it is loaded (one read of
    `state_versions` on FerretDB, an index on MongoDB): the API serves what is there now.

    Old versions. `collect_garbage()` (the scheduled pass) removes superseded versions
    and bodies in bulk, off the consumer's path. A removed version could be inserted
    again by a writer whose position is older still, and would look like a write that
    stands. So a sweep first writes a new token in `state_sweeps` (erasure too), and
    every bulk of writes reads it after its inserts (one read by `_id`): unchanged since
    the writers' positions were known to be the latest, no sweep removed what they wrote
    over; changed, the store reads the positions anew and keeps as written only the
    writes that are now the latest version (the others are reported as conflicts).

    Crashes and redeliveries. Each write stands whole or not at all (a body nothing names
    is removed later); what it applied and its outbox are in it, so a redelivered fact is
    skipped and an outbox left unpublished is published by the next change or the pass.

    The aggregate is stored as one JSON string: nothing queries inside it, and the
    MongoDB-compatible server writes a string about twice as fast as nested documents."""

    MAX_READS = 5

    def __init__(self, database: Database, cache_size: int = 0) -> None:
        self._markers = database["states"]
        self._versions = database["state_versions"]
        self._bodies = database["state_bodies"]
        self._sweeps = database["state_sweeps"]
        self._remembers = cache_size > 0
        self._cache_size = cache_size
        # The last state read or written of each employee: (body or version id, JSON).
        self._texts: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._positions: dict[str, Position] = {}
        # True once `_positions` names every employee with a state (after `refresh`).
        self._complete = False
        self._last_sweep: str | None = UNKNOWN_SWEEP

    # -- reading -----------------------------------------------------------------------

    def load(self, employee_id: str) -> tuple[EmployeeBadges, int | None]:
        """The latest state and its version (None when the employee has none yet)."""
        return self.load_all([employee_id])[employee_id]

    def load_all(self, employee_ids: Iterable[str]) -> dict[str, tuple[EmployeeBadges, int | None]]:
        """`load` of several employees (a consumer batch)."""
        with translated_errors():
            if self._remembers and self._complete:
                previous = self._last_sweep
                if self._read_sweep() != previous:
                    self.refresh()  # a sweep ran: bodies of stale positions may be gone
            return {employee_id: self._load_one(employee_id) for employee_id in employee_ids}

    def _load_one(self, employee_id: str) -> tuple[EmployeeBadges, int | None]:
        trust = self._remembers
        for _ in range(self.MAX_READS):
            position = self._known(employee_id) if trust else self._look_up(employee_id)
            if position is None:
                return EmployeeBadges(employee_id=employee_id), None
            state = self._read(position)
            if state is not None:
                return state, position.version or None
            trust = False  # its body went with a sweep: that position was stale
        raise InfrastructureError(f"state of {employee_id!r} kept moving while being read")

    def _known(self, employee_id: str) -> Position | None:
        position = self._positions.get(employee_id)
        if position is None and not self._complete:
            position = self._look_up(employee_id)
        return position

    def _look_up(self, employee_id: str) -> Position | None:
        """The latest position, read from the database (and remembered for a save)."""
        sweep = self._read_sweep()
        marker = self._markers.find_one({"_id": employee_id}, MARKER_FIELDS)
        if marker is None:
            self._positions.pop(employee_id, None)
            return None
        versions = self._versions.find({"employee_id": employee_id}, VERSION_FIELDS)
        position = latest_positions([marker], versions, sweep)[employee_id]
        self._positions[employee_id] = position
        return position

    def _read(self, position: Position) -> EmployeeBadges | None:
        """The state at `position`; None when its body is gone."""
        if position.version == 0:
            return EmployeeBadges(employee_id=position.employee_id)
        key = position.body or position.version_id
        cached = self._texts.get(position.employee_id)
        if cached is not None and cached[0] == key:
            text = cached[1]
            self._texts.move_to_end(position.employee_id)
        else:
            collection = self._bodies if position.body else self._versions
            document = collection.find_one({"_id": key}, {"state_json": 1})
            if document is None or "state_json" not in document:
                return None
            text = str(document["state_json"])
            self._keep_text(position.employee_id, key, text)
        state = state_from_document(json.loads(text))
        if position.published:
            state.outbox = []
        return state

    # -- writing -----------------------------------------------------------------------

    def save(self, state: EmployeeBadges, version: int | None) -> bool:
        """Write the state as the version after `version`; False if another writer wrote
        that version first (the caller reloads and applies its change again)."""
        return self.save_all([(state, version)])[0]

    def save_all(self, changes: Sequence[tuple[EmployeeBadges, int | None]]) -> list[bool]:
        """`save` of several states in one bulk write; which of them stand."""
        with translated_errors():
            planned = [self._plan(state, version) for state, version in changes]
            stands = self._write(planned)
        for write, ok in zip(planned, stands, strict=True):
            if ok and write is not None and write.text is not None and write.new.body:
                self._keep_text(write.new.employee_id, write.new.body, write.text)
        return stands

    def mark_published(self, state: EmployeeBadges, version: int) -> None:
        """Record that the outbox of `version` is published (`state` has it taken out)."""
        self.mark_all_published([(state, version)])

    def mark_all_published(self, published: Sequence[tuple[EmployeeBadges, int]]) -> None:
        """`mark_published` of several states: each a small version naming the same body,
        marked published. Refused where another writer wrote since: what that writer read
        still holds the outbox, which it publishes again at worst (same id and status)."""
        marks: list[_Write | None] = []
        rewrites: list[tuple[EmployeeBadges, int | None]] = []
        for state, version in published:
            base = self._positions.get(state.employee_id)
            if base is None or base.version != version:
                continue  # not the version this store wrote or read last: left as it is
            if base.body is None:
                rewrites.append((state, version))  # a state of the first layout: rewritten
                continue
            new = replace(
                base,
                version=version + 1,
                published=True,
                has_outbox=False,
                matched_badges=_matched_badges(state),
            )
            marks.append(_Write(base=base, new=new))
        with translated_errors():
            self._write(marks)
        if rewrites:
            self.save_all(rewrites)

    def _plan(self, state: EmployeeBadges, version: int | None) -> _Write | None:
        """The documents that write `state` over `version`; None when that version is
        certainly not the latest (the caller's read is stale)."""
        employee_id = state.employee_id
        marker = None
        base = self._base(employee_id, version or 0)
        if base is None:
            return None
        if base is BEGIN:
            incarnation = uuid.uuid4().hex[:8]
            marker = {"_id": employee_id, "employee_id": employee_id, "incarnation": incarnation}
            base = Position(employee_id, incarnation, 0, sweep=self._sweep_before_now())
        text = json.dumps(state_document(state), separators=(",", ":"))
        number = base.version + 1
        body_id = f"{version_id(employee_id, base.incarnation, number)}.{uuid.uuid4().hex[:12]}"
        new = Position(
            employee_id,
            base.incarnation,
            number,
            body=body_id,
            has_outbox=bool(state.outbox),
            matched_badges=_matched_badges(state),
            sweep=base.sweep,
        )
        body = {
            "_id": body_id,
            "employee_id": employee_id,
            "incarnation": base.incarnation,
            "version": number,
            "state_json": text,
        }
        return _Write(base=base, new=new, marker=marker, body=body, text=text)

    def _base(self, employee_id: str, number: int) -> Position | None:
        """The position the caller's `number` stands for: `BEGIN` for a state to begin,
        None when there is no state at all while the caller read one."""
        known = self._positions.get(employee_id)
        if known is not None and known.version == number:
            return known
        if known is None and number == 0:
            return BEGIN
        if known is None:
            known = self._look_up(employee_id)
            if known is None:
                return None
            if known.version == number:
                return known
        # A version this store did not read last: its insert settles it, its sweep is
        # unknown, so if it stands it is checked against a fresh read.
        return replace(known, version=number, body=None, sweep=UNKNOWN_SWEEP)

    def _write(self, planned: Sequence[_Write | None]) -> list[bool]:
        """Insert the planned writes (markers, bodies, then versions, one bulk each) and
        confirm them; which stand."""
        refused = {i for i, write in enumerate(planned) if write is None}
        writes = {i: write for i, write in enumerate(planned) if write is not None}
        new_markers = {i: w.marker for i, w in writes.items() if w.marker is not None}
        refused |= _insert_all(self._markers, new_markers)
        bodies = {i: w.body for i, w in writes.items() if w.body is not None and i not in refused}
        if _insert_all(self._bodies, bodies):
            raise InfrastructureError("a state body id was already taken")  # random ids
        versions = {i: w.new.document() for i, w in writes.items() if i not in refused}
        collided = _insert_all(self._versions, versions)
        inserted = [i for i in versions if i not in collided]
        stands = self._confirm({i: writes[i] for i in inserted})
        for i in collided:
            self._after_refusal(writes[i])
        for i, write in writes.items():
            if i in refused:
                self._after_refusal(write)
        return [i in stands for i in range(len(planned))]

    def _confirm(self, inserted: Mapping[int, _Write]) -> set[int]:
        """Which inserted writes stand: all while no sweep ran since their positions were
        known; otherwise those that are now the latest version."""
        if not inserted:
            return set()
        sweep = self._read_sweep()
        unsure = {i for i, write in inserted.items() if write.new.sweep != sweep}
        stands = set(inserted) - unsure
        for i in stands:
            self._positions[inserted[i].new.employee_id] = inserted[i].new
        if not unsure:
            return stands
        if self._remembers:
            self.refresh()
            latest = self._positions
        else:
            employees = {inserted[i].new.employee_id for i in unsure}
            looked = {employee_id: self._look_up(employee_id) for employee_id in employees}
            latest = {employee_id: p for employee_id, p in looked.items() if p is not None}
        for i in unsure:
            new = inserted[i].new
            now = latest.get(new.employee_id)
            if now is not None and (now.incarnation, now.version, now.body, now.published) == (
                new.incarnation,
                new.version,
                new.body,
                new.published,
            ):
                stands.add(i)
            elif now is None or now.incarnation != new.incarnation:
                # Written after an erasure: nothing of the erased state may stay behind.
                self._versions.delete_one({"_id": new.version_id})
                if inserted[i].body is not None:
                    self._bodies.delete_one({"_id": new.body})
        return stands

    def _after_refusal(self, write: _Write) -> None:
        """Another writer got there first: remember what it wrote (the refused `_id`,
        read back: it exists), keeping the sweep the stale position was known under."""
        employee_id = write.new.employee_id
        if not self._remembers:
            self._positions.pop(employee_id, None)
            return
        found = None
        if write.marker is None:
            found = self._versions.find_one({"_id": write.new.version_id}, VERSION_FIELDS)
        if found is None:
            self._look_up(employee_id)  # a state begun elsewhere, or already swept
            return
        self._positions[employee_id] = position_of(
            employee_id, write.new.incarnation, found, write.base.sweep
        )

    # -- erasure, the scheduled pass ---------------------------------------------------

    def delete(self, employee_id: str) -> None:
        """Forget an erased employee (every version and body)."""
        self._positions.pop(employee_id, None)
        self._texts.pop(employee_id, None)
        with translated_errors():
            # Writers holding positions read before this re-read them before trusting
            # a write (one that lands now belongs to a removed incarnation).
            self._new_sweep()
            self._markers.delete_one({"_id": employee_id})
            self._versions.delete_many({"employee_id": employee_id})
            self._bodies.delete_many({"employee_id": employee_id})

    def refresh(self) -> None:
        """Read where every state is (a store with `cache_size`: a consumer given
        partitions that another consumer may have written meanwhile). Nothing for a
        store without: it looks each state up when it is loaded."""
        if not self._remembers:
            return
        with translated_errors():
            self._positions = self._scan()
        self._complete = True

    def employee_ids(self, with_outbox_only: bool = False) -> Iterator[str]:
        """Every employee with a state, or only those with an outbox to publish (one read
        of the small `states` and `state_versions`: the scheduled pass; a store with
        `cache_size` keeps the positions read for the loads that follow)."""
        with translated_errors():
            positions = self._scan()
        if self._remembers:
            self._positions, self._complete = positions, True
        ids = [
            employee_id
            for employee_id, position in positions.items()
            if not with_outbox_only or (position.has_outbox and not position.published)
        ]
        yield from ids

    def with_matches(self, badge_id: str) -> Iterator[EmployeeBadges]:
        """The states holding matching events for a badge (a challenge being decided)."""
        with translated_errors():
            positions = self._scan()
        if self._remembers:
            self._positions, self._complete = positions, True
        for position in positions.values():
            if position.version and (badge_id in position.matched_badges or not position.body):
                with translated_errors():
                    state = self._read(position)
                if state is None:
                    state, _ = self.load(position.employee_id)
                if state.matches.get(badge_id):
                    yield state

    def collect_garbage(self) -> int:
        """Remove superseded versions and bodies, and what erased incarnations left (the
        scheduled pass). Returns how many versions were removed."""
        with translated_errors():
            bodies = list(self._bodies.find({}, BODY_FIELDS))
            versions = list(self._versions.find({}, VERSION_FIELDS))
            markers = list(self._markers.find({}, MARKER_FIELDS))
            old_versions, old_bodies = garbage(bodies, versions, markers)
            if not old_versions and not old_bodies:
                return 0
            self._new_sweep()
            for collection, ids in ((self._versions, old_versions), (self._bodies, old_bodies)):
                for start in range(0, len(ids), DELETE_CHUNK):
                    collection.delete_many({"_id": {"$in": ids[start : start + DELETE_CHUNK]}})
        return len(old_versions)

    # -- inside ------------------------------------------------------------------------

    def _scan(self) -> dict[str, Position]:
        # The sweep first: it must have been read before the positions it vouches for.
        sweep = self._read_sweep()
        versions = list(self._versions.find({}, VERSION_FIELDS))
        markers = list(self._markers.find({}, MARKER_FIELDS))
        return latest_positions(markers, versions, sweep)

    def _read_sweep(self) -> str | None:
        document = self._sweeps.find_one({"_id": SWEEP_ID})
        if document is None:
            # Written once, so that every later read finds it (a miss reads a collection).
            _ignoring_duplicates(self._sweeps, [{"_id": SWEEP_ID, "token": None}])
            document = self._sweeps.find_one({"_id": SWEEP_ID})
        token = None if document is None else document.get("token")
        self._last_sweep = None if token is None else str(token)
        return self._last_sweep

    def _sweep_before_now(self) -> str | None:
        """A sweep token read before now (any such read vouches for what is known after)."""
        if self._last_sweep == UNKNOWN_SWEEP:
            return self._read_sweep()
        return self._last_sweep

    def _new_sweep(self) -> None:
        token = uuid.uuid4().hex
        self._sweeps.update_one({"_id": SWEEP_ID}, {"$set": {"token": token}}, upsert=True)

    def _keep_text(self, employee_id: str, key: str, text: str) -> None:
        if not self._cache_size:
            return
        self._texts[employee_id] = (key, text)
        self._texts.move_to_end(employee_id)
        while len(self._texts) > self._cache_size:
            self._texts.popitem(last=False)


def _matched_badges(state: EmployeeBadges) -> tuple[str, ...]:
    # A hint for the scheduled pass, which always reads the state itself.
    return tuple(sorted(badge_id for badge_id, matches in state.matches.items() if matches))


def _insert_all(collection: Collection, documents: Mapping[int, dict[str, Any]]) -> set[int]:
    """Insert the documents in one unordered bulk; the keys of those refused because
    their `_id` exists."""
    if not documents:
        return set()
    keys = list(documents)
    try:
        collection.insert_many([documents[key] for key in keys], ordered=False)
    except BulkWriteError as error:
        problems = error.details.get("writeErrors", [])
        if any(problem.get("code") != DUPLICATE_KEY for problem in problems):
            raise
        return {keys[problem["index"]] for problem in problems}
    return set()


def _ignoring_duplicates(collection: Collection, documents: list[dict[str, Any]]) -> None:
    """Insert the documents; those already there (same `_id`) are left as they are."""
    _insert_all(collection, dict(enumerate(documents)))


def _latest_by(
    documents: Iterable[Mapping[str, Any]], key: str, order: str
) -> Iterator[dict[str, Any]]:
    """The document with the highest `order` of each run of documents sharing `key`
    (falling back to `_id`, as the first layout keyed them), in the order they come."""
    current: str | None = None
    best: Mapping[str, Any] | None = None
    for document in documents:
        name = str(document.get(key, document["_id"]))
        if name != current:
            if best is not None:
                yield {**best, "_id": current}
            current, best = name, None
        if best is None or document.get(order, 0) > best.get(order, 0):
            best = document
    if best is not None:
        yield {**best, "_id": current}


class AwardStore:
    """The awards as the holders list and the APIs read them: one document per revision
    of an award, `<award id>#<revision>`, inserted from the outbox; a duplicate is a
    revision already projected (a redelivery, a republished outbox): nothing is read or
    updated. An award stands at its highest revision. An award projected by the first
    layout is one document `<award id>` with its revision inside, read the same way."""

    def __init__(self, database: Database) -> None:
        self._awards = database["awards"]
        self._recipients = RecipientStore(database)

    def project(self, message: Mapping[str, Any], revision: int, at: datetime) -> None:
        """Store one revision of the award from its outbox message."""
        self.project_all([(message, revision, at)])

    def project_all(self, entries: Sequence[tuple[Mapping[str, Any], int, datetime]]) -> None:
        """`project` of several outbox messages in one bulk insert."""
        documents = []
        for message, revision, at in entries:
            document = {
                "_id": f"{message['id']}#{revision:06d}",
                "award_id": message["id"],
                "employee_id": message["employee_id"],
                "badge_id": message["badge_id"],
                "tier": message["tier"],
                "status": message["status"],
                "evidence": list(message["evidence"]),
                "reason": message["reason"],
                "revision": revision,
                "awarded_at": at if message["status"] == "awarded" else None,
                "revoked_at": None if message["status"] == "awarded" else at,
            }
            documents.append(document)
        with translated_errors():
            _ignoring_duplicates(self._awards, documents)

    def get(self, award_id: str) -> dict[str, Any] | None:
        """One award as it stands (its highest revision), or None."""
        with translated_errors():
            found = list(self._awards.find({"$or": [{"_id": award_id}, {"award_id": award_id}]}))
        found.sort(key=lambda document: document.get("revision", 0))
        return next(_latest_by(found, "award_id", "revision"), None)

    def holders(self, badge_id: str, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Standing awards of a badge, by award id, after the award id `after`."""
        query: dict[str, Any] = {"badge_id": badge_id}
        if after:
            query["_id"] = {"$gt": after}
        found: list[dict[str, Any]] = []
        with translated_errors():
            # Sorted by `_id`, an award's revisions come together (`<id>`, `<id>#...`).
            cursor = self._awards.find(query).sort("_id", ASCENDING)
            for award in _latest_by(cursor, "award_id", "revision"):
                if award["_id"] == after or award["status"] != "awarded":
                    continue
                found.append(award)
                if len(found) == limit:
                    break
        return found

    def delete_employee(self, employee_id: str) -> None:
        """Forget an erased employee's awards and their hashed recipients."""
        with translated_errors():
            self._awards.delete_many({"employee_id": employee_id})
        self._recipients.delete_employee(employee_id)


class RecipientStore:
    """The hashed recipient of each Open Badges assertion, fixed when first issued (the
    first writer's hash stands), so that a later change of email or salt never breaks an
    assertion already handed out. Written by the API only, when an assertion is first
    served (never by the consumer)."""

    def __init__(self, database: Database) -> None:
        self._recipients = database["recipients"]

    def get(self, award_id: str) -> dict[str, Any] | None:
        """The stored recipient (`identity`, `salt`), or None."""
        with translated_errors():
            return self._recipients.find_one({"_id": award_id})

    def fix(self, award_id: str, employee_id: str, identity: str, salt: str) -> dict[str, Any]:
        """Store the recipient unless already there; returns the one that stands."""
        document = {"_id": award_id, "employee_id": employee_id, "identity": identity, "salt": salt}
        with translated_errors():
            try:
                self._recipients.insert_one(document)
            except DuplicateKeyError:
                stored = self._recipients.find_one({"_id": award_id})
                assert stored is not None
                return stored
        return document

    def delete_employee(self, employee_id: str) -> None:
        """Forget an erased employee's hashed recipients."""
        with translated_errors():
            self._recipients.delete_many({"employee_id": employee_id})


class Directory:
    """The badges service's copy of the directory (`cercle.employees.v1`): one document
    per snapshot version, `<employee>#<version>`, inserted (a replayed snapshot is a
    duplicate: nothing read, nothing updated); an employee's entry is their highest
    version. An entry of the first layout is one document `<employee>`."""

    def __init__(self, database: Database) -> None:
        self._entries = database["directory"]

    def apply_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Keep the snapshot (an older version than one stored changes nothing)."""
        employee_id = snapshot["employee_id"]
        version = int(snapshot.get("version") or 0)
        document = {
            "_id": f"{employee_id}#{version:012d}",
            "employee_id": employee_id,
            "team": snapshot.get("team"),
            "visibility": snapshot.get("visibility") or "visible",
            "pseudonym": snapshot.get("pseudonym"),
            "active": bool(snapshot.get("active", True)),
            "version": version,
        }
        with translated_errors():
            _ignoring_duplicates(self._entries, [document])

    def delete(self, employee_id: str) -> None:
        """Forget an erased employee."""
        with translated_errors():
            self._entries.delete_many({"$or": [{"_id": employee_id}, {"employee_id": employee_id}]})

    def entries(self, employee_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Directory entries by employee id (missing ids are absent)."""
        if not employee_ids:
            return {}
        query = {"$or": [{"_id": {"$in": employee_ids}}, {"employee_id": {"$in": employee_ids}}]}
        with translated_errors():
            return _latest_entries(self._entries.find(query))

    def collect_garbage(self) -> int:
        """Remove the versions newer snapshots superseded (the scheduled pass). Returns
        how many."""
        with translated_errors():
            documents = list(self._entries.find({}, {"employee_id": 1, "version": 1}))
            latest = {entry["_id"] for entry in _latest_entries(documents).values()}
            old = [document["_id"] for document in documents if document["_id"] not in latest]
            for start in range(0, len(old), DELETE_CHUNK):
                self._entries.delete_many({"_id": {"$in": old[start : start + DELETE_CHUNK]}})
        return len(old)


def _latest_entries(documents: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The highest version of each employee's directory entry."""
    latest: dict[str, dict[str, Any]] = {}
    for document in documents:
        employee_id = str(document.get("employee_id", document["_id"]))
        known = latest.get(employee_id)
        if known is None or document.get("version", 0) > known.get("version", 0):
            latest[employee_id] = dict(document)
    return latest


class ChallengeResults:
    """Fixed challenge results: inserted once; the first writer's winners stand."""

    def __init__(self, database: Database) -> None:
        self._results = database["challenges"]

    def get(self, badge_id: str) -> dict[str, Any] | None:
        """The stored result, or None while the challenge is not decided."""
        with translated_errors():
            return self._results.find_one({"_id": badge_id})

    def fix(
        self, badge_id: str, winners: list[dict[str, Any]], fixed_at: datetime
    ) -> dict[str, Any]:
        """Store the winners unless already fixed; returns the result that stands."""
        document = {"_id": badge_id, "winners": winners, "fixed_at": fixed_at, "applied": False}
        with translated_errors():
            try:
                self._results.insert_one(document)
            except DuplicateKeyError:
                stored = self._results.find_one({"_id": badge_id})
                assert stored is not None
                return stored
        return document

    def mark_applied(self, badge_id: str) -> None:
        """Every winner's award is written and announced."""
        with translated_errors():
            self._results.update_one({"_id": badge_id}, {"$set": {"applied": True}})


class KeyStore:
    """Signing keys, created once and shared by every process of the service."""

    def __init__(self, database: Database) -> None:
        self._keys = database["keys"]

    def get_or_create(self, key_id: str, create: Any) -> dict[str, Any]:
        """The key stored under `key_id`; `create()` makes one if none is (first wins)."""
        with translated_errors():
            stored = self._keys.find_one({"_id": key_id})
            if stored is not None:
                return stored
            document = {"_id": key_id, **create()}
            try:
                self._keys.insert_one(document)
            except DuplicateKeyError:
                stored = self._keys.find_one({"_id": key_id})
                assert stored is not None
                return stored
            return document
