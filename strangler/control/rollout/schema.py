"""The rollouts' tables, beside the route store's in the same database (strangler.control.store_backends):
rollouts and their decisions, the controller's lease, every replica's published counters."""

from __future__ import annotations

from typing import Any

from strangler.control.store_backends import Backend, Postgres

SCHEMA = """
CREATE TABLE IF NOT EXISTS strangler_rollout (
    id {serial} PRIMARY KEY,
    route TEXT NOT NULL,
    status TEXT NOT NULL,
    plan TEXT NOT NULL,
    step INTEGER NOT NULL,
    step_started_at DOUBLE PRECISION NOT NULL,
    progress TEXT NOT NULL,
    pending_mode TEXT,
    pending_weight INTEGER,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS strangler_rollout_route ON strangler_rollout (route, id);
CREATE TABLE IF NOT EXISTS strangler_rollout_event (
    id {serial} PRIMARY KEY,
    rollout BIGINT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    step INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS strangler_rollout_event_rollout ON strangler_rollout_event (rollout, id);
CREATE TABLE IF NOT EXISTS strangler_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS strangler_replica_counters (
    replica TEXT PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    counters TEXT NOT NULL
);
"""
_TABLES = ("strangler_rollout", "strangler_rollout_event", "strangler_lease", "strangler_replica_counters")
_PG_SCHEMA_LOCK = 7345002


def schema_create(backend: Backend, conn: Any) -> None:
    """Create what is missing; several replicas may start together."""
    statements = [s.strip() for s in SCHEMA.format(serial=backend.serial).split(";") if s.strip()]
    if isinstance(backend, Postgres):  # DDL only when missing: see store_backends.Postgres.create_schema
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(f"SELECT pg_advisory_xact_lock({_PG_SCHEMA_LOCK})")
            cur.execute("SELECT " + ", ".join(f"to_regclass('{t}')" for t in _TABLES))
            if None in cur.fetchone():
                for statement in statements:
                    cur.execute(statement)
        return
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            cur.execute(statement)
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")
