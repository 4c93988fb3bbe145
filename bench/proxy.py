"""Proxy benchmark: direct vs nginx vs strangler, in front of Django and of a fast upstream.

    python bench/proxy.py [--rounds 3] [--duration 4] [--connections 16] [--threads 2] [--no-pin]

Starts every process itself (gunicorn gthread + a tiny Django app, nginx as the fast upstream
and as the reference reverse proxy when installed, the strangler with all features on), drives
them with wrk on loopback, prints progress and a summary, and writes bench/results/proxy.json.

Every process stays up for the whole run and the measurements are interleaved: each round runs
every configuration once, in turn, and a configuration's figures are the medians of its rounds
(its CPU per request, the sum of its rounds'). On a shared machine whose speed drifts within a
minute, a ratio of two figures measured seconds apart resolves far smaller differences than one
of two figures measured minutes apart.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from strangler.testing import cpu_seconds, free_port, process_tree

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "proxy.json"
PYTHON = sys.executable
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
PATH = "/api/items/42"
TARGETS = {
    "rps_vs_nginx_django": 0.85,
    "rps_vs_nginx_fast": 0.5,
    "cpu_us_per_request": 40.0,
    "added_p50_ms": 0.5,
    "shadow_p50_cost": 0.10,
    "shadow_p50_cost_saturated": 0.10,
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors + non-2xx/3xx
    connections: int = 0
    cpu_us_per_request: float | None = None  # of the proxy in front, when there is one
    loadavg_1m: float = 0.0  # the highest at the start of a round: others using the CPUs make figures noisy
    rounds: list[dict[str, float]] = field(default_factory=list)  # each round's rps and p50


# -- processes ---------------------------------------------------------------------------------
class Processes:
    """Every process the bench starts, stopped in reverse order on exit."""

    def __init__(self, workdir: Path, pin: dict[str, set[int]] | None) -> None:
        self.workdir = workdir
        self.pin = pin
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], role: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        cpus = self.pin.get(role) if self.pin else None
        out = (self.workdir / f"{name}.log").open("wb")
        popen = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,  # noqa: PLW1509
        )
        out.close()
        self.started.append(popen)
        return popen

    def stop(self, popen: subprocess.Popen[bytes]) -> None:
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(10)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()

    def stop_all(self) -> None:
        for popen in reversed(self.started):
            self.stop(popen)


def wait_http(port: int, path: str, popen: subprocess.Popen[bytes], log_file: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise SystemExit(f"process exited early ({popen.returncode}):\n{log_file.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"port {port} not answering 200 on {path}:\n{log_file.read_text(errors='replace')}")


# -- wrk ---------------------------------------------------------------------------------------
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, args: argparse.Namespace, pin: dict[str, set[int]] | None, duration: float,
            connections: int) -> WrkResult:
    threads = min(args.threads, connections)
    cmd = ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
           "-s", str(args.script), url]
    if pin:
        cmd = ["taskset", "-c", ",".join(map(str, sorted(pin["load"]))), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    except (AttributeError, ValueError) as exc:
        raise SystemExit(f"cannot parse wrk output ({exc}):\n{out}") from exc
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(rps, p50, p99, requests, errors + (int(non2xx.group(1)) if non2xx else 0), connections)


@dataclass
class Config:
    """One measured configuration: what wrk drives, and the proxy whose CPU is counted."""

    name: str
    port: int
    proxy_pid: int | None
    connections: int


def measure(configs: list[Config], args: argparse.Namespace, pin: dict[str, set[int]] | None,
            ) -> dict[str, WrkResult]:
    """`args.rounds` rounds, each running every configuration in turn, right after its warm-up."""
    url = {c.name: f"http://127.0.0.1:{c.port}{PATH}" for c in configs}
    pids = {c.name: process_tree(c.proxy_pid) if c.proxy_pid else [] for c in configs}
    runs: dict[str, list[WrkResult]] = {c.name: [] for c in configs}
    cpu_us = dict.fromkeys(runs, 0.0)
    for n in range(1, args.rounds + 1):
        log(f"round {n} of {args.rounds}")
        for c in configs:
            # Fills keep-alive pools and brings the proxy to its steady state under this load (the shadow
            # shedding reacts to the CPU utilisation within a second), as the other configurations ran meanwhile.
            run_wrk(url[c.name], args, pin, args.warmup, c.connections)
            load = os.getloadavg()[0]
            before = cpu_seconds(pids[c.name])
            result = run_wrk(url[c.name], args, pin, args.duration, c.connections)
            cpu_us[c.name] += (cpu_seconds(pids[c.name]) - before) * 1e6
            result.loadavg_1m = round(load, 2)
            runs[c.name].append(result)
            log(f"  {c.name:<24} {result.rps:>9.0f} req/s  p50 {result.p50_ms:.3f} ms  errors {result.errors}")
    results = {}
    for c in configs:
        rounds = runs[c.name]
        result = WrkResult(
            rps=round(statistics.median(r.rps for r in rounds), 2),
            p50_ms=round(statistics.median(r.p50_ms for r in rounds), 4),
            p99_ms=round(statistics.median(r.p99_ms for r in rounds), 4),
            requests=sum(r.requests for r in rounds),
            errors=sum(r.errors for r in rounds),
            connections=c.connections,
            loadavg_1m=max(r.loadavg_1m for r in rounds),
            rounds=[{"rps": r.rps, "p50_ms": r.p50_ms} for r in rounds],
        )
        if c.proxy_pid:
            result.cpu_us_per_request = round(cpu_us[c.name] / max(result.requests, 1), 2)
        cpu = f", proxy CPU {result.cpu_us_per_request} us/req" if result.cpu_us_per_request is not None else ""
        log(f"{c.name:<24} {result.rps:>9.0f} req/s  p50 {result.p50_ms:.3f} ms  p99 {result.p99_ms:.3f} ms  "
            f"errors {result.errors}{cpu} (medians of {len(rounds)} rounds)")
        results[c.name] = result
    return results


# 64 users cycled, so the canary route really splits cohorts between its two targets. The
# requests are formatted once per thread: the script costs wrk next to nothing per request.
WRK_SCRIPT = """
local reqs, i = {}, 0
init = function(args)
  for n = 1, 64 do
    reqs[n] = wrk.format("GET", nil, {["X-User-Id"] = "user-" .. n})
  end
end
request = function()
  i = i % 64 + 1
  return reqs[i]
end
"""


# -- configs -----------------------------------------------------------------------------------
def nginx_fast_conf(work: Path, ports: list[int]) -> str:
    servers = "\n".join(
        f"  server {{ listen 127.0.0.1:{p}; location / {{ default_type application/json; "
        f"return 200 '{{\"ok\":true}}'; }} }}"
        for p in ports
    )
    return _nginx_main(work, "fast", f"  access_log off;\n{servers}")


# What the strangler adds to every request it forwards (strangler.proxy.request_head), for the
# reference that sends the same: an upstream that parses headers in Python (gunicorn) pays for each.
FORWARDING_HEADERS = (
    "proxy_set_header X-Forwarded-For $remote_addr; proxy_set_header X-Forwarded-Proto $scheme; "
    "proxy_set_header X-Forwarded-Host $http_host; proxy_set_header X-Request-ID $request_id; "
    "proxy_set_header traceparent $bench_traceparent;"
)


def nginx_proxy_conf(work: Path, routes: dict[int, int], forwarding: frozenset[int] = frozenset()) -> str:
    """A plain reverse proxy on each listen port; those in `forwarding` also send the strangler's
    forwarding and tracing headers (a traceparent made of nginx's $request_id)."""
    blocks = ['  map $request_id $bench_traceparent { "~^(?<span>.{16})" "00-$request_id-$span-01"; }']
    for listen, upstream in routes.items():
        extra = FORWARDING_HEADERS if listen in forwarding else ""
        blocks.append(
            f"  upstream u{listen} {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 1000000; }}\n"
            f"  server {{ listen 127.0.0.1:{listen}; location / {{ proxy_pass http://u{listen}; "
            f'proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; {extra}}} }}'
        )
    access = f"  access_log {work}/nginx-proxy-access.log combined buffer=64k flush=1s;"
    return _nginx_main(work, "proxy", access + "\n" + "\n".join(blocks))


def _nginx_main(work: Path, name: str, http: str) -> str:
    temp = work / f"nginx-{name}-tmp"
    temp.mkdir(exist_ok=True)
    return f"""worker_processes 1;
pid {work}/nginx-{name}.pid;
error_log {work}/nginx-{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
  client_body_temp_path {temp}/body; proxy_temp_path {temp}/proxy; fastcgi_temp_path {temp}/fcgi;
  uwsgi_temp_path {temp}/uwsgi; scgi_temp_path {temp}/scgi;
  keepalive_requests 1000000; keepalive_timeout 75s;
{http}
}}
"""


def strangler_conf(work: Path, name: str, upstream: int, shadow_upstream: int | None) -> Path:
    """All features on: canary route (or shadow), access log, metrics, breaker, retries."""
    listen, admin = free_port(), free_port()
    mode = 'mode = "shadow"' if shadow_upstream else 'mode = "canary"\nweight = 50'
    path = work / f"strangler-{name}.toml"
    path.write_text(f"""
[proxy]
listen = "127.0.0.1:{listen}"
access_log = true

[admin]
listen = "127.0.0.1:{admin}"

[store]
url = "sqlite:///{work}/strangler-{name}.db"

[targets.monolith]
url = "http://127.0.0.1:{upstream}"

[targets.items]
url = "http://127.0.0.1:{shadow_upstream or upstream}"

[[routes]]
name = "items"
prefix = "/api/items"
service = "items"
{mode}
cohort = "header:x-user-id"

[[routes]]
name = "orders"
prefix = "/api/orders"
service = "items"
mode = "service"

[[routes]]
name = "users"
prefix = "/api/users"
service = "items"
mode = "shadow"
""")
    return path


@dataclass
class StranglerProc:
    port: int
    pid: int
    admin_port: int
    token: str

    def counters(self) -> dict[str, int]:
        """Request and shadow counters from /metrics: proof the runs took the intended route."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=5)
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {self.token}"})
        text = conn.getresponse().read().decode()
        conn.close()
        out: dict[str, int] = {}
        for labels, value in re.findall(r'^strangler_requests_total\{route="items",(.*)\} (\d+)$', text, re.M):
            target = re.search(r'target="([^"]+)"', labels).group(1)  # type: ignore[union-attr]
            out[f"items_to_{target}"] = out.get(f"items_to_{target}", 0) + int(value)
        for outcome, value in re.findall(r'^strangler_shadow_total\{route="items",outcome="(\w+)"\} (\d+)$', text, re.M):
            out[f"shadow_{outcome}"] = int(value)
        return out


@contextmanager
def strangler(procs: Processes, work: Path, name: str, upstream: int, shadow: int | None = None,
              ) -> Iterator[StranglerProc]:
    config = strangler_conf(work, name, upstream, shadow)
    text = config.read_text()
    port, admin = (int(p) for p in re.findall(r'listen = "127.0.0.1:(\d+)"', text))
    token = secrets.token_urlsafe(16)
    popen = procs.start(f"strangler-{name}", [PYTHON, "-m", "strangler", "--config", str(config), "serve"], "proxy",
                        env={"STRANGLER_ADMIN_TOKEN": token})
    wait_http(port, PATH, popen, work / f"strangler-{name}.log")
    try:
        yield StranglerProc(port, popen.pid, admin, token)
    finally:
        procs.stop(popen)


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs every configuration once")
    parser.add_argument("--duration", type=int, default=4, help="seconds per measured wrk run (one round)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the proxy and the load apart")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: run bash bench/setup.sh (apt-get install wrk nginx)")

    cpus = sorted(os.sched_getaffinity(0))
    pin = None if args.no_pin or len(cpus) < 2 else {"proxy": {cpus[0]}, "load": set(cpus[1:])}
    # The upstreams share the load's CPUs: what is compared is the proxy's core, alone.
    if pin:
        pin["upstream"] = pin["load"]
    log(f"load average before start: {os.getloadavg()[0]:.2f} (other work on the machine makes figures noisy)")
    log(f"{len(cpus)} CPUs; pinning: "
        + (f"proxy on {sorted(pin['proxy'])}, wrk + upstreams on {sorted(pin['load'])}" if pin else "none"))
    if not NGINX:
        log("nginx not installed: fast upstream is bench/upstreams.py and there is no nginx reference")

    results: dict[str, WrkResult] = {}
    counters: dict[str, dict[str, int]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="strangler-bench-") as tmp:
        work = Path(tmp)
        args.script = work / "users.lua"
        args.script.write_text(WRK_SCRIPT)
        procs = Processes(work, pin)
        try:
            run_all(procs, work, args, pin, results, counters)
        finally:
            procs.stop_all()
    elapsed = time.monotonic() - started

    summary = summarise(results)
    payload = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": len(cpus), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
                     "threads": args.threads, "path": PATH,
                     "requests": "GET, X-User-Id cycling over 64 users (sticky canary cohorts)", "nginx": bool(NGINX),
                     "pinning": {k: sorted(v) for k, v in pin.items()} if pin else None,
                     "django_upstream": "gunicorn gthread, 2 workers x 4 threads, keep-alive 75 s",
                     "nginx_reference": "worker_processes 1, upstream keepalive 64, buffered access log",
                     "strangler": "1 process, uvloop, canary route 50%, access log on, metrics on"},
        "notes": [
            "CPU per request = (utime+stime delta of the proxy process and its children) / wrk requests",
            "added_p50_ms = strangler p50 - direct p50 against the same upstream at the same connections",
            "shadow_p50_cost = strangler p50 with the route in shadow mode / in canary mode - 1; at 1 connection "
            "it is the mirror's cost on a primary request, at 16 the proxy core is saturated and it also counts "
            "the mirror's CPU",
            "at 1 connection the mirror is sent after the primary answer, so the shadow cost is mostly the "
            "mirror's upstream working on the load generator's core while wrk turns the next request around: "
            "with the mirror's nginx pinned to the proxy's core instead, the cost measured -7% (2026-12-01)",
            "the mirror is shed (shadow_dropped) when shadow_concurrency mirrors are already in flight or the "
            "proxy's core is saturated",
            "nginx-django-headers is nginx sending the headers the strangler adds (X-Forwarded-For, -Proto, "
            "-Host, X-Request-ID, traceparent); gunicorn parses headers in Python, so each costs the upstream",
            "each figure is the median of its rounds; the rounds of all configurations are interleaved",
            "loadavg_1m: the highest at the start of a round; other processes on the machine compete for the same cores",
        ],
        "runs": {name: asdict(r) for name, r in results.items()},
        # Counted by the strangler itself (warm-up included); shadow_dropped > 0 means mirrors
        # were shed under load (shadow_concurrency), so the shadow cost covers fewer mirrors.
        "strangler_counters": counters,
        "summary": summary,
        "targets": TARGETS,
        "elapsed_s": round(elapsed, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print_summary(summary)
    log(f"done in {elapsed:.0f} s; figures in {args.output}")
    return 0


def run_all(procs: Processes, work: Path, args: argparse.Namespace, pin: dict[str, set[int]] | None,
            results: dict[str, WrkResult], counters: dict[str, dict[str, int]]) -> None:
    """Start every upstream and proxy, then measure them all in interleaved rounds."""
    django = free_port()
    log(f"starting Django (gunicorn gthread) on {django}")
    gunicorn = procs.start("gunicorn", [PYTHON, "-m", "gunicorn", "-k", "gthread", "--workers", "2", "--threads", "4",
                                        "--keep-alive", "75", "--bind", f"127.0.0.1:{django}", "--log-level",
                                        "warning", "bench.django_upstream:application"], "upstream")
    wait_http(django, PATH, gunicorn, work / "gunicorn.log")

    fast, fast_shadow = free_port(), free_port()
    if NGINX:
        conf = work / "nginx-fast.conf"
        conf.write_text(nginx_fast_conf(work, [fast, fast_shadow]))
        popen = procs.start("nginx-fast", [NGINX, "-c", str(conf), "-p", str(work), "-g", "daemon off;"], "upstream")
        log(f"starting the fast upstream (nginx return 200) on {fast}, {fast_shadow}")
    else:
        popen = procs.start("fast", [PYTHON, "bench/upstreams.py", str(fast)], "upstream")
        procs.start("fast-shadow", [PYTHON, "bench/upstreams.py", str(fast_shadow)], "upstream")
        log(f"starting the fast upstream (bench/upstreams.py) on {fast}, {fast_shadow}")
    wait_http(fast, PATH, popen, work / "nginx-fast.log")
    wait_http(fast_shadow, PATH, popen, work / "nginx-fast.log")

    n = args.connections
    configs = [Config("direct-django", django, None, n), Config("direct-fast", fast, None, n)]
    if NGINX:
        ng_django, ng_headers, ng_fast = free_port(), free_port(), free_port()
        conf = work / "nginx-proxy.conf"
        conf.write_text(nginx_proxy_conf(work, {ng_django: django, ng_headers: django, ng_fast: fast},
                                         forwarding=frozenset({ng_headers})))
        ng = procs.start("nginx-proxy", [NGINX, "-c", str(conf), "-p", str(work), "-g", "daemon off;"], "proxy")
        for port in (ng_django, ng_headers, ng_fast):
            wait_http(port, PATH, ng, work / "nginx-proxy.log")
        log("started nginx as the reference reverse proxy")
        configs += [Config("nginx-django", ng_django, ng.pid, n), Config("nginx-django-headers", ng_headers, ng.pid, n),
                    Config("nginx-fast", ng_fast, ng.pid, n)]

    with ExitStack() as stack:
        log("starting the strangler in front of Django, in front of the fast upstream (canary route, access log, "
            "metrics), and with the route in shadow mode (mirror to a second fast upstream)")
        on_django = stack.enter_context(strangler(procs, work, "django", django))
        on_fast = stack.enter_context(strangler(procs, work, "fast", fast))
        shadow = stack.enter_context(strangler(procs, work, "shadow", fast, shadow=fast_shadow))
        configs += [
            Config("strangler-django", on_django.port, on_django.pid, n),
            Config("strangler-fast", on_fast.port, on_fast.pid, n),
            Config("strangler-fast-shadow", shadow.port, shadow.pid, n),
            Config("strangler-fast-c1", on_fast.port, on_fast.pid, 1),
            Config("strangler-fast-shadow-c1", shadow.port, shadow.pid, 1),
        ]
        results.update(measure(configs, args, pin))
        counters.update({"strangler-django": on_django.counters(), "strangler-fast": on_fast.counters(),
                         "strangler-fast-shadow": shadow.counters()})
    for name, values in counters.items():
        log(f"{name} counters from /metrics: {values}")


def summarise(results: dict[str, WrkResult]) -> dict[str, float | bool | None]:
    def ratio(a: str, b: str, field: Callable[[WrkResult], float]) -> float | None:
        if a in results and b in results and field(results[b]):
            return round(field(results[a]) / field(results[b]), 3)
        return None

    s: dict[str, float | bool | None] = {
        "rps_vs_nginx_django": ratio("strangler-django", "nginx-django", lambda r: r.rps),
        "rps_vs_nginx_fast": ratio("strangler-fast", "nginx-fast", lambda r: r.rps),
        # Like for like: nginx sending the same forwarding and tracing headers to gunicorn.
        "rps_vs_nginx_django_same_headers": ratio("strangler-django", "nginx-django-headers", lambda r: r.rps),
        "cpu_us_per_request": results["strangler-fast"].cpu_us_per_request if "strangler-fast" in results else None,
        "cpu_us_per_request_django": results["strangler-django"].cpu_us_per_request
        if "strangler-django" in results else None,
        "nginx_cpu_us_per_request": results["nginx-fast"].cpu_us_per_request if "nginx-fast" in results else None,
        "added_p50_ms": round(results["strangler-fast"].p50_ms - results["direct-fast"].p50_ms, 3)
        if {"strangler-fast", "direct-fast"} <= results.keys() else None,
        "added_p50_ms_django": round(results["strangler-django"].p50_ms - results["direct-django"].p50_ms, 3)
        if {"strangler-django", "direct-django"} <= results.keys() else None,
        # Unsaturated (1 connection): what mirroring adds to a primary request's path. The
        # saturated figure (16 connections, proxy core at 100%) also counts the mirror's CPU.
        "shadow_p50_cost": _cost(ratio("strangler-fast-shadow-c1", "strangler-fast-c1", lambda r: r.p50_ms)),
        "shadow_p50_cost_saturated": _cost(ratio("strangler-fast-shadow", "strangler-fast", lambda r: r.p50_ms)),
        "errors": sum(r.errors for r in results.values()),
    }
    for key, target in TARGETS.items():
        value = s.get(key)
        if isinstance(value, float | int):
            higher_is_better = key.startswith("rps_")
            s[f"{key}_ok"] = value >= target if higher_is_better else value <= target
    return s


def _cost(ratio: float | None) -> float | None:
    return round(ratio - 1, 3) if ratio is not None else None


def print_summary(summary: dict[str, float | bool | None]) -> None:
    print("\nsummary (targets in brackets)")
    labels = {
        "rps_vs_nginx_django": ">= 0.85x nginx req/s in front of Django",
        "rps_vs_nginx_fast": ">= 0.5x nginx req/s against the fast upstream",
        "cpu_us_per_request": "<= 40 us strangler CPU per request (fast upstream)",
        "added_p50_ms": "<= 0.5 ms added p50 at 16 connections (fast upstream)",
        "shadow_p50_cost": "<= 10% shadow cost on the primary's p50 (1 connection)",
        "shadow_p50_cost_saturated": "<= 10% shadow cost on the primary's p50 (16 connections)",
    }
    for key, label in labels.items():
        value = summary.get(key)
        verdict = {True: "ok", False: "MISSED", None: "n/a"}[summary.get(f"{key}_ok")]  # type: ignore[index]
        print(f"  {key:<26} {value!s:>8}  [{label}]  {verdict}")
    for key in ("rps_vs_nginx_django_same_headers", "added_p50_ms_django", "cpu_us_per_request_django",
                "nginx_cpu_us_per_request", "errors"):
        print(f"  {key:<26} {summary.get(key)!s:>8}")


if __name__ == "__main__":
    sys.exit(main())
