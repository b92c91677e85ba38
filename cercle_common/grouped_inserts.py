"""Inserts of concurrent requests into one collection, written together.

On the local server every insert command is one SQLite transaction, and transactions
take turns on one write lock: a process whose threads each insert one event reaches the
database's commit rate, not its insert rate. So the threads of a process hand their
documents to one writer, which inserts everything that arrived while its previous write
ran in one `insert_many` (a group commit). Alone, a request waits for its own insert as
before; under load, it shares the commit with the others."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Document = dict[str, Any]
# Inserts documents in order, each independently; returns the positions refused as
# duplicates and raises on anything else.
InsertMany = Callable[[list[Document]], set[int]]


@dataclass
class _Request:
    documents: Sequence[Document]
    done: threading.Event = field(default_factory=threading.Event)
    refused: set[int] = field(default_factory=set)
    error: BaseException | None = None


class GroupedInserts:
    """One writer per collection and process; `insert` blocks until its documents are
    written (or refused) and answers which of them were refused as duplicates."""

    def __init__(self, insert_many: InsertMany) -> None:
        self._insert_many = insert_many
        self._lock = threading.Lock()
        self._pending: list[_Request] = []
        self._wake = threading.Condition(self._lock)
        self._writer: threading.Thread | None = None

    def insert(self, documents: Sequence[Document]) -> set[int]:
        """Insert `documents` (in order, with those of concurrent callers); returns the
        positions (in `documents`) refused as already present."""
        if not documents:
            return set()
        request = _Request(documents)
        with self._lock:
            self._pending.append(request)
            self._start_writer()
            self._wake.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.refused

    def _start_writer(self) -> None:
        # Started at first use, so a process forked after construction (a gunicorn worker)
        # has a writer of its own.
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._write_forever, daemon=True)
            self._writer.start()

    def _write_forever(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._wake.wait()
                group, self._pending = self._pending, []
            self._write(group)

    def _write(self, group: list[_Request]) -> None:
        documents = [document for request in group for document in request.documents]
        try:
            refused = self._insert_many(documents)
        except BaseException as error:  # every request of the group learns of it
            for request in group:
                request.error = error
                request.done.set()
            return
        start = 0
        for request in group:
            end = start + len(request.documents)
            request.refused = {position - start for position in refused if start <= position < end}
            start = end
            request.done.set()
