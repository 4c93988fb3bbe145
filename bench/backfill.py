"""Backfill benchmark: copy 200,000 payments from the monolith's store into the payments service's
PostgreSQL store through the kit's generic engine (`manage.py strangler_backfill payments`), and compare with a reference measured in
the same run: psycopg's COPY of the same rows straight into the same table (what PostgreSQL itself
can take from one Python client, with no HTTP, JSON or merge rule).

    python bench/backfill.py [--rows 200000] [--batch-size 5000]

Prints progress and a summary and writes bench/results/backfill.json. Target: >= 26,000 rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.cutover_support import (  # noqa: E402 - after the path is set
    BIN,
    PG_URL,
    SECRET,
    free_port,
    pg_create,
    pg_drop,
    stack,
)

RESULTS = ROOT / "bench" / "results" / "backfill.json"
TARGET_ROWS_PER_S = 26_000
_COLUMNS = ("id, order_id, user_id, amount_minor, currency, status, failure_reason, processor_ref, captured_minor, "
            "refunded_minor, idempotency_key, revision, created_at, updated_at")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def seed(url: str, rows: int) -> None:
    """Payments like a shop's: 90 % captured, 10 % declined, every tenth captured one partly refunded."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(f"""
            INSERT INTO payments_payment ({_COLUMNS})
            SELECT md5('p' || g)::uuid, md5('o' || g)::uuid, md5('u' || (g %% 5000))::uuid, 100 + g %% 10000, 'EUR',
                   CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'captured' END,
                   CASE WHEN g %% 10 = 0 THEN 'card_declined' ELSE '' END,
                   'fake_ch_' || g, CASE WHEN g %% 10 = 0 THEN 0 ELSE 100 + g %% 10000 END, 0, 'bench:' || g, 2,
                   now() - (g || ' seconds')::interval, now()
            FROM generate_series(1, %s) AS g""", (rows,))
        conn.execute("""
            INSERT INTO payments_refund (id, payment_id, amount_minor, currency, processor_ref, idempotency_key, created_at)
            SELECT md5('r' || g)::uuid, md5('p' || g)::uuid, 50, 'EUR', 'fake_re_' || g, 'bench-refund:' || g, now()
            FROM generate_series(1, %s) AS g WHERE g %% 10 = 1""", (rows,))
        conn.execute("UPDATE payments_payment SET refunded_minor = 50, revision = 3 WHERE idempotency_key IN "
                     "(SELECT 'bench:' || g FROM generate_series(1, %s) AS g WHERE g %% 10 = 1)", (rows,))


def copy_reference(source: str, target: str) -> float:
    """Rows/s of COPY from memory into the target's payments table (then emptied again)."""
    import psycopg

    with psycopg.connect(source) as conn:
        data = conn.execute(f"SELECT {_COLUMNS} FROM payments_payment").fetchall()
    started = time.perf_counter()
    with psycopg.connect(target) as conn:
        with conn.cursor().copy(f"COPY payments_payment ({_COLUMNS}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
    seconds = time.perf_counter() - started
    with psycopg.connect(target) as conn:
        conn.execute("TRUNCATE payments_payment CASCADE")
    return len(data) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=2, help="batches the backfill sends concurrently")
    parser.add_argument("--tag", default=str(os.getpid()), help="in the scratch databases' names (default: the pid)")
    args = parser.parse_args()
    tag = args.tag
    names = [f"bench_backfill_{tag}_mono", f"bench_backfill_{tag}_pay"]
    mono_url, pay_url = pg_create(names)
    var = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env.update(INTERNAL_AUTH_SECRET=SECRET, VAR_DIR=str(var))
    service = None
    try:
        log(f"migrating two databases on {PG_URL.rsplit('@', 1)[-1]}")
        payments = next(svc for svc in stack.SERVICES if svc.name == "payments")
        stack.migrate(var=var, env=env, services=[payments],
                      extra={"monolith": {"DATABASE_URL": mono_url}, "payments": {"DATABASE_URL": pay_url}})
        log(f"seeding {args.rows:,} payments in the monolith's store")
        seed(mono_url, args.rows)
        log("reference: COPY of the same rows into the service's table")
        reference = copy_reference(mono_url, pay_url)
        log(f"reference: {reference:,.0f} rows/s")

        port = free_port()
        pay_env = {**env, **stack.service_env(payments, var=var, secret=SECRET, ports=stack.DEFAULT_PORTS),
                   "DATABASE_URL": pay_url, "PYTHONUNBUFFERED": "1"}
        service = subprocess.Popen([str(BIN / "gunicorn"), "payments_service.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2",
                                    "-k", "gthread", "--threads", "2", "--timeout", "120"],
                                   cwd=payments.folder, env=pay_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert stack.wait_healthy(f"http://127.0.0.1:{port}/healthz", 60), "payments service did not start"
        mono_env = {**env, "DATABASE_URL": mono_url}
        log(f"backfill: batch size {args.batch_size}, {args.in_flight} in flight")
        started = time.perf_counter()
        result = subprocess.run([str(BIN / "python"), "manage.py", "strangler_backfill", "payments", "--target",
                                 f"http://127.0.0.1:{port}", "--batch-size", str(args.batch_size), "--in-flight", str(args.in_flight), "--restart"],
                                cwd=ROOT, env=mono_env, stdout=subprocess.PIPE, text=True, timeout=1800)
        seconds = time.perf_counter() - started
        print(result.stdout, end="")
        if result.returncode != 0:
            log(f"backfill failed with exit code {result.returncode}")
            return 1
        reported = re.search(r"([\d,.]+) rows/s", result.stdout)
        log("reconcile")
        started_rec = time.perf_counter()
        rec = subprocess.run([str(BIN / "python"), "manage.py", "strangler_reconcile", "payments", "--target",
                              f"http://127.0.0.1:{port}"], cwd=ROOT, env=mono_env, stdout=subprocess.PIPE, text=True,
                             timeout=1800)
        reconcile_seconds = time.perf_counter() - started_rec
        print(rec.stdout, end="")
        rows_per_s = args.rows / seconds
        figures = {
            "rows": args.rows, "batch_size": args.batch_size, "in_flight": args.in_flight, "seconds": round(seconds, 2),
            "rows_per_s": round(rows_per_s), "rows_per_s_reported": reported[1] if reported else None,
            "target_rows_per_s": TARGET_ROWS_PER_S, "meets_target": rows_per_s >= TARGET_ROWS_PER_S,
            "reference_copy_rows_per_s": round(reference), "ratio_to_copy": round(rows_per_s / reference, 3),
            "reconcile_exit": rec.returncode, "reconcile_seconds": round(reconcile_seconds, 2),
            "loadavg_1m": os.getloadavg()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
        log(f"summary: {args.rows:,} payments in {seconds:.1f} s = {rows_per_s:,.0f} rows/s "
            f"(target {TARGET_ROWS_PER_S:,}: {'met' if figures['meets_target'] else 'MISSED'}); "
            f"{figures['ratio_to_copy']:.2f} x raw COPY; reconcile exit {rec.returncode} in {reconcile_seconds:.1f} s; "
            f"written to {RESULTS.relative_to(ROOT)}")
        return 0 if rec.returncode == 0 else 1
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=10)
        pg_drop(names)


if __name__ == "__main__":
    sys.exit(main())
