"""Concurrent inserts into one collection share one write (a group commit), and each
caller learns what became of its own documents."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from cercle_common.grouped_inserts import GroupedInserts


class Collection:
    """Refuses an `_id` it holds; the first write can be held until released."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.writes: list[list[str]] = []
        self.hold_first = threading.Event()
        self.first_started = threading.Event()
        self.fail: Exception | None = None

    def insert_many(self, documents: list[dict[str, Any]]) -> set[int]:
        if not self.writes:
            self.first_started.set()
            assert self.hold_first.wait(10)
        self.writes.append([document["_id"] for document in documents])
        if self.fail is not None:
            raise self.fail
        refused = {n for n, document in enumerate(documents) if document["_id"] in self.ids}
        self.ids.update(document["_id"] for document in documents)
        return refused


def in_threads(inserts: GroupedInserts, batches: list[list[str]]) -> list[Any]:
    answers: list[Any] = [None] * len(batches)

    def insert(index: int) -> None:
        try:
            answers[index] = inserts.insert([{"_id": i} for i in batches[index]])
        except Exception as error:
            answers[index] = error

    threads = [threading.Thread(target=insert, args=(n,)) for n in range(len(batches))]
    for thread in threads:
        thread.start()
    return [threads, answers]


def test_a_lone_insert_is_written_and_answers_its_refusals() -> None:
    collection = Collection()
    collection.hold_first.set()
    inserts = GroupedInserts(collection.insert_many)
    assert inserts.insert([{"_id": "a"}, {"_id": "b"}]) == set()
    assert inserts.insert([{"_id": "c"}, {"_id": "a"}]) == {1}
    assert collection.writes == [["a", "b"], ["c", "a"]]


def test_inserts_arriving_during_a_write_share_the_next_one() -> None:
    collection = Collection()
    inserts = GroupedInserts(collection.insert_many)
    first, first_answer = in_threads(inserts, [["x"]])
    assert collection.first_started.wait(10)
    threads, answers = in_threads(inserts, [["a", "b"], ["c", "x"], ["d"]])
    deadline = time.monotonic() + 10
    while len(inserts._pending) < 3 and time.monotonic() < deadline:
        threading.Event().wait(0.001)  # all three come to wait behind the first write
    assert len(inserts._pending) == 3
    collection.hold_first.set()
    for thread in [*first, *threads]:
        thread.join(10)
    assert first_answer == [set()]
    assert collection.writes[0] == ["x"]
    assert sorted(collection.writes[1]) == ["a", "b", "c", "d", "x"]  # one write for three
    assert len(collection.writes) == 2
    assert answers == [set(), {1}, set()]  # each its own positions: c's "x" is refused


def test_a_failed_write_fails_every_insert_of_its_group() -> None:
    collection = Collection()
    collection.hold_first.set()
    collection.fail = ConnectionError("database down")
    inserts = GroupedInserts(collection.insert_many)
    with pytest.raises(ConnectionError):
        inserts.insert([{"_id": "a"}])
    collection.fail = None
    assert inserts.insert([{"_id": "b"}]) == set()  # the writer goes on
