"""A bounded collection kept whole in memory and reloaded in the background.

The door checks every event against the directory and the catalogue: both are bounded
(thousands of entries, not millions), so each process keeps a copy and a check costs no
round trip. A change made by another process is seen within `2 * max_age_s` (plus one
load); a change made through this process is `put` at once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Key = TypeVar("Key")
Value = TypeVar("Value")


class RefreshedCopy(Generic[Key, Value]):
    """A whole-collection copy. Younger than `max_age_s` it is answered as it is; up to
    twice that age it is still answered while one background thread reloads it, so a
    steady flow of requests never waits for a reload; older (or never loaded), `get`
    loads it itself. So an answer never comes from a copy older than `2 * max_age_s`.
    A background reload that fails keeps the old copy, until that limit."""

    def __init__(
        self,
        load: Callable[[], Mapping[Key, Value]],
        max_age_s: float,
        clock: Callable[[], float] = time.monotonic,
        in_background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._load = load
        self._max_age_s = max_age_s
        self._clock = clock
        self._in_background = in_background or _in_a_thread
        self._lock = threading.Lock()
        self._entries: dict[Key, Value] = {}
        self._loaded_at: float | None = None
        self._loads_running = 0
        self._background_reload = False
        # Changes `put` while a load runs: that load may have read before them.
        self._put_during_load: dict[Key, Value] = {}

    def get(self, key: Key) -> Value | None:
        """The entry, or None when the copy does not hold it."""
        with self._lock:
            age = None if self._loaded_at is None else self._clock() - self._loaded_at
            if age is not None and age < 2 * self._max_age_s:
                if age >= self._max_age_s and not self._background_reload:
                    self._background_reload = True
                    self._in_background(self._reload)
                return self._entries.get(key)
        self._load_and_keep()
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Key, value: Value) -> None:
        """A change this process made: visible here at once."""
        with self._lock:
            self._entries[key] = value
            if self._loads_running:
                self._put_during_load[key] = value

    def _reload(self) -> None:
        try:
            self._load_and_keep()
        except Exception as error:  # an outage: the old copy serves until its limit
            log.warning("reload of a cached copy failed", extra={"error": str(error)})
        finally:
            with self._lock:
                self._background_reload = False

    def _load_and_keep(self) -> None:
        with self._lock:
            self._loads_running += 1
        began = self._clock()
        try:
            entries = dict(self._load())
        except BaseException:
            with self._lock:
                self._load_finished()
            raise
        with self._lock:
            if self._loaded_at is None or began > self._loaded_at:
                entries.update(self._put_during_load)
                self._entries, self._loaded_at = entries, began
            self._load_finished()

    def _load_finished(self) -> None:
        self._loads_running -= 1
        if not self._loads_running:
            self._put_during_load.clear()


def _in_a_thread(task: Callable[[], None]) -> None:
    threading.Thread(target=task, name="refreshed-copy", daemon=True).start()
