"""The in-memory copy the door judges events against: how old an answer may be."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cercle_common.cache import RefreshedCopy


class Source:
    """A collection whose reads are counted, and a clock the test moves."""

    def __init__(self) -> None:
        self.rows = {"a": 1}
        self.loads = 0
        self.now = 0.0
        self.fail = False
        self.while_loading: Callable[[], None] = lambda: None

    def load(self) -> dict[str, int]:
        self.loads += 1
        if self.fail:
            raise ConnectionError("database down")
        rows = dict(self.rows)
        self.while_loading()  # what other threads do between the read and its return
        return rows


class Deferred:
    """Background work held until the test runs it."""

    def __init__(self) -> None:
        self.tasks: list[Callable[[], None]] = []

    def __call__(self, task: Callable[[], None]) -> None:
        self.tasks.append(task)

    def run(self) -> None:
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task()


@pytest.fixture
def source() -> Source:
    return Source()


@pytest.fixture
def background() -> Deferred:
    return Deferred()


@pytest.fixture
def copy(source: Source, background: Deferred) -> RefreshedCopy[str, int]:
    return RefreshedCopy(source.load, 10.0, clock=lambda: source.now, in_background=background)


def test_a_fresh_copy_answers_without_reading(copy, source) -> None:
    assert copy.get("a") == 1
    source.rows["a"] = 2
    source.now = 9.9
    assert [copy.get("a"), copy.get("b"), source.loads] == [1, None, 1]


def test_a_stale_copy_still_answers_while_it_reloads_in_the_background(
    copy, source, background
) -> None:
    copy.get("a")
    source.rows["a"] = 2
    source.now = 10.0
    assert copy.get("a") == 1  # answered at once from the old copy
    assert copy.get("a") == 1 and len(background.tasks) == 1  # one reload, not one per get
    background.run()
    assert [copy.get("a"), source.loads] == [2, 2]


def test_a_copy_past_twice_its_age_is_reloaded_before_answering(copy, source) -> None:
    copy.get("a")
    source.rows["a"] = 3
    source.now = 20.0
    assert [copy.get("a"), source.loads] == [3, 2]


def test_a_change_made_here_during_a_reload_outlives_that_reload(copy, source, background) -> None:
    copy.get("a")
    source.now = 10.0
    copy.get("a")

    def hire_b() -> None:
        source.rows["b"] = 7
        copy.put("b", 7)

    source.while_loading = hire_b  # written after the reload read the rows
    background.run()
    assert [copy.get("a"), copy.get("b")] == [1, 7]


def test_a_failed_background_reload_keeps_the_old_copy_until_its_limit(
    copy, source, background
) -> None:
    copy.get("a")
    source.fail = True
    source.now = 15.0
    copy.get("a")
    background.run()
    assert copy.get("a") == 1
    source.now = 20.0
    with pytest.raises(ConnectionError):
        copy.get("a")
