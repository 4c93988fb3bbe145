"""One connection to the route store's database, shared by the store (strangler.control.store) and
the rollout records (strangler.control.rollout.records): the backend the url names, a lock that
makes every call one short transaction at a time, and a PostgreSQL connection broken by a server
restart replaced on the next call (the failed call raised; the next one works again)."""

from __future__ import annotations

import threading
from typing import Any, Self

from strangler.control.store_backends import Backend, backend_for


class StoreError(Exception):
    """A change the store refuses; the message is meant for the operator."""


class StoreConnection:
    """Subclasses open it (connect, then create what they need) in ``open``."""

    what = "the store"  # for the message when used closed

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._backend: Backend = backend_for(url)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        self._lock = threading.Lock()
        self._conn: Any = None

    def open(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self.open() if self._conn is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> Any:
        if self._conn is None:
            raise StoreError(f"{self.what} is closed")
        if self._backend.broken(self._conn):
            self._conn.close()
            self._conn = self._backend.connect()
        return self._conn

    def _sql(self, sql: str) -> str:
        return self._backend.sql(sql)
