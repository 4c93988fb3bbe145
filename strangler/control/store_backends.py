"""The few differences between SQLite and PostgreSQL for the route store: connecting, the schema,
and how a write transaction is serialised across processes.

Queries are written with ``?`` placeholders; ``Backend.sql`` adapts them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS strangler_meta (
    id INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS strangler_route_state (
    route TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    weight INTEGER NOT NULL,
    version BIGINT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS strangler_audit (
    id {serial} PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    route TEXT NOT NULL,
    from_mode TEXT,
    from_weight INTEGER,
    to_mode TEXT NOT NULL,
    to_weight INTEGER NOT NULL,
    reason TEXT NOT NULL,
    undoes BIGINT
);
CREATE INDEX IF NOT EXISTS strangler_audit_route_id ON strangler_audit (route, id);
CREATE TABLE IF NOT EXISTS strangler_drain (
    id {serial} PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    route TEXT NOT NULL,
    grace DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL
);
"""
_META_ROW = "INSERT INTO strangler_meta (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING"


class Backend:
    placeholder = "?"
    serial = "INTEGER"

    def connect(self) -> Any:
        raise NotImplementedError

    def broken(self, conn: Any) -> bool:
        return False

    def create_schema(self, conn: Any) -> None:
        raise NotImplementedError

    @contextmanager
    def write(self, conn: Any) -> Iterator[Any]:
        """A transaction holding the store-wide write lock from its first statement."""
        raise NotImplementedError
        yield

    @contextmanager
    def read(self, conn: Any) -> Iterator[Any]:
        """A read-only transaction: several SELECTs see one snapshot."""
        raise NotImplementedError
        yield

    def sql(self, query: str) -> str:
        return query.replace("?", self.placeholder)

    def statements(self) -> list[str]:
        return [s.strip() for s in SCHEMA.format(serial=self.serial).split(";") if s.strip()]


class Sqlite(Backend):
    """One file shared by processes: WAL lets readers (pollers) run while a writer commits."""

    def __init__(self, path: str) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def create_schema(self, conn: sqlite3.Connection) -> None:
        with self.write(conn) as cur:
            for statement in self.statements():
                cur.execute(statement)
            cur.execute(_META_ROW)

    @contextmanager
    def write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlocks between processes
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    @contextmanager
    def read(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
        cur = conn.cursor()
        cur.execute("BEGIN")
        try:
            yield cur
        finally:
            cur.execute("COMMIT")


class Postgres(Backend):
    placeholder = "%s"
    serial = "BIGSERIAL"

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> Any:
        import psycopg  # optional dependency: only when the store url says postgresql

        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def broken(self, conn: Any) -> bool:
        return bool(conn.closed or conn.broken)

    def create_schema(self, conn: Any) -> None:
        with conn.transaction(), conn.cursor() as cur:
            # Several replicas may start together: serialise schema creation with an advisory lock.
            cur.execute("SELECT pg_advisory_xact_lock(7345001)")
            # DDL (even IF NOT EXISTS) locks tables that running writers use and can deadlock
            # with them: only run it when the schema is not there yet.
            cur.execute("SELECT to_regclass('strangler_meta'), to_regclass('strangler_route_state'), "
                        "to_regclass('strangler_audit'), to_regclass('strangler_drain')")
            if None in cur.fetchone():
                for statement in self.statements():
                    cur.execute(statement)
                cur.execute(_META_ROW)

    @contextmanager
    def write(self, conn: Any) -> Iterator[Any]:
        with conn.transaction(), conn.cursor() as cur:
            # The meta row lock serialises writers across processes, like BEGIN IMMEDIATE.
            cur.execute("SELECT version FROM strangler_meta WHERE id = 1 FOR UPDATE")
            yield cur

    @contextmanager
    def read(self, conn: Any) -> Iterator[Any]:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield cur


def backend_for(url: str) -> Backend:
    """sqlite:///relative/path (to the working directory), sqlite:////absolute/path, postgresql://..."""
    if url.startswith(("postgresql://", "postgres://")):
        return Postgres(url)
    if url.startswith("sqlite://"):
        rest = url[len("sqlite://") :]
        if rest in ("", "/", "/:memory:"):
            return Sqlite(":memory:")
        return Sqlite(rest[1:] if rest.startswith("/") else rest)
    raise ValueError(f"unsupported store url {url!r}: expected sqlite:///path or postgresql://...")
