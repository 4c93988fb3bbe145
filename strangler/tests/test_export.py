"""`strangler export`: the route plan as a Gateway API HTTPRoute and as nginx configuration.

The expected documents below are reasoned from the routing semantics (routing.py, shadow.py), not
copied from the exporter's output. nginx is real: `nginx -t` checks the generated file, and one
test runs nginx on it in front of real upstreams to see the plan route requests.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from strangler.export.gateway import ExportError, default_backends, httproute_export, to_yaml
from strangler.export.nginx import nginx_export
from strangler.proxy.config import parse_config
from strangler.proxy.types import Mode, RouteState, RouteTable
from strangler.testing import free_port
from strangler.tests.conftest import start_upstream
from strangler.tests.control_support import cli

DATA = Path(__file__).parent / "data"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PORTS = {"monolith": 8001, "payments": 8002, "notifications": 8004, "orders": 8005}

# A canary (25 %, cohort per Authorization header), a shadow route nested under it, a service route
# behind a header, a monolith route limited to two methods, and the DEFAULT route.
TABLE = """
[proxy]
listen = "127.0.0.1:8000"
[store]
url = "{store}"
[targets.monolith]
url = "http://127.0.0.1:{monolith}"
[targets.payments]
url = "http://127.0.0.1:{payments}"
connect_timeout = 0.5
read_timeout = 10.0
credential = {{ caller = "strangler", secret_env = "INTERNAL_AUTH_SECRET" }}
[targets.notifications]
url = "http://127.0.0.1:{notifications}"
[targets.orders]
url = "http://127.0.0.1:{orders}"

[[routes]]
name = "payments"
prefix = "/api/v1/payments"
service = "payments"
mode = "canary"
weight = 25
cohort = "header:authorization"

[[routes]]
name = "refunds"
prefix = "/api/v1/payments/refunds"
service = "payments"
mode = "shadow"

[[routes]]
name = "notifications"
prefix = "/api/v1/notifications"
service = "notifications"
mode = "service"
header = "X-Api-Version: 2"

[[routes]]
name = "orders"
prefix = "/api/v1/orders"
service = "orders"
mode = "monolith"
methods = ["POST", "PATCH"]
"""


def table_text(store: str = "sqlite:///unused.db", **ports: int) -> str:
    return TABLE.format(store=store, **{**PORTS, **ports})


def load(text: str | None = None) -> RouteTable:
    return parse_config(tomllib.loads(text or table_text()), env={}).table


def file_states(table: RouteTable) -> dict[str, RouteState]:
    return {r.name: r.state for r in table.routes}


# -- Gateway API -------------------------------------------------------------------------------
STRIP = {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": ["X-Internal-Credential"]}}
MONOLITH = {"name": "monolith", "port": 8001}
PAYMENTS = {"name": "payments", "port": 8002}


def prefix(value: str, method: str | None = None, **header: str) -> dict[str, Any]:
    match: dict[str, Any] = {"path": {"type": "PathPrefix", "value": value}}
    if method:
        match["method"] = method
    if header:
        match["headers"] = [{"type": "Exact", "name": k, "value": v} for k, v in header.items()]
    return match


def test_gateway_document_is_the_expected_one() -> None:
    refunds = "/api/v1/payments/refunds"
    expected = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": "strangler",
            "annotations": {
                "strangler.dev/generated-by": "strangler export --format gateway",
                "strangler.dev/source": "test",
                "strangler.dev/backends": "\n".join(
                    f"{t} -> {t}:{p} (named after the target: its URL has no host name)" for t, p in PORTS.items()
                ),
                "strangler.dev/rules": "\n".join([
                    "rules[0-1]: refunds /api/v1/payments/refunds shadow -> monolith, mirrored to payments",
                    "rules[2]: notifications /api/v1/notifications service -> notifications [x-api-version: 2]",
                    "rules[3]: payments /api/v1/payments canary 25% -> payments",
                    "rules[4]: orders /api/v1/orders monolith -> monolith [PATCH POST]",
                    "rules[5]: DEFAULT / -> monolith (default)",
                ]),
                "strangler.dev/not-expressed": "\n".join([
                    "refunds: mirrors are not compared (no response diffing, no noise estimate), not shed under "
                    "load and carry no X-Strangler-Shadow header",
                    "notifications: no fallback to the monolith when the service fails, no retries (2 for "
                    "safe methods), no circuit breaker (opens after 5 failures)",
                    "payments: the weights split each request; the strangler keeps each cohort (header "
                    "authorization) on one side",
                    "payments: no fallback to the monolith when the service fails, no retries (2 for safe "
                    "methods), no circuit breaker (opens after 5 failures)",
                    "target payments: the strangler signs requests with X-Internal-Credential (caller strangler); "
                    "a Gateway cannot, so payments must accept the gateway through its own credential (clients' "
                    "copies of the header are removed)",
                    "this document uses Extended Gateway API features (method matches, RequestMirror): check "
                    "that your implementation supports them",
                    "everywhere: signed overrides (X-Strangler-Override), per-target timeouts, X-Request-ID and "
                    "traceparent generation are the strangler's own",
                    "tunnels: a Gateway passes a WebSocket upgrade to whichever backend the rule picks (give the "
                    "backend's Service port appProtocol kubernetes.io/ws where the implementation asks for it) and "
                    "times it out its own way: no tunnel idle_timeout or max_lifetime, no caps on open tunnels, no "
                    "drain on a flip (open tunnels stay), upgrades a route does not allow are not refused; no rule "
                    "sets timeouts.request, which would end tunnels; shadow mirrors no tunnel",
                ]),
                # Every route allows WebSocket by default, with the default tunnel limits.
                "strangler.dev/tunnels": "\n".join(
                    f"{name}: upgrades websocket; idle_timeout 300s, max_lifetime 3600s"
                    for name in ("refunds", "notifications", "payments", "orders", "DEFAULT")
                ),
            },
        },
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                # Longest prefix first. Shadow: the strangler mirrors safe methods only (no dry-run
                # header), so they get the mirror and everything else the monolith alone.
                {"matches": [prefix(refunds, m) for m in ("GET", "HEAD", "OPTIONS")],
                 "filters": [STRIP, {"type": "RequestMirror", "requestMirror": {"backendRef": PAYMENTS}}],
                 "backendRefs": [MONOLITH]},
                {"matches": [prefix(refunds)], "filters": [STRIP], "backendRefs": [MONOLITH]},
                {"matches": [prefix("/api/v1/notifications", **{"x-api-version": "2"})], "filters": [STRIP],
                 "backendRefs": [{"name": "notifications", "port": 8004}]},
                {"matches": [prefix("/api/v1/payments")], "filters": [STRIP],
                 "backendRefs": [{**MONOLITH, "weight": 75}, {**PAYMENTS, "weight": 25}]},
                {"matches": [prefix("/api/v1/orders", "POST"), prefix("/api/v1/orders", "PATCH")],
                 "filters": [STRIP], "backendRefs": [MONOLITH]},
                {"matches": [prefix("/")], "filters": [STRIP], "backendRefs": [MONOLITH]},
            ],
        },
    }
    table = load()
    assert httproute_export(table, file_states(table), source="test") == expected


def test_gateway_yaml_reads_back_as_the_same_document() -> None:
    table = load()
    document = httproute_export(table, file_states(table), namespace="shop", gateway="edge", source="a: b # c")
    text = to_yaml(document)
    assert yaml.safe_load(text) == document
    assert text == to_yaml(document)  # deterministic
    assert text.startswith("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n")
    assert "    strangler.dev/rules: |-\n      rules[0-1]: refunds" in text
    hostile = httproute_export(load(HOSTILE), {})
    assert yaml.safe_load(to_yaml(hostile)) == hostile
    assert hostile["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/odd;path%7Bx%7D/deeper"
    odd = {"a": ["yes", "8000", "", " lead", "x\n y", "two\nlines", "tab\there", "null", 0, True], "b": {}, "c": []}
    assert yaml.safe_load(to_yaml(odd)) == odd


@pytest.mark.parametrize(("weight", "expected"), [(1, (99, 1)), (25, (75, 25)), (50, (50, 50)), (99, (1, 99)),
                                                  (0, (100, 0)), (100, (0, 100))])
def test_gateway_canary_weights_sum_to_100(weight: int, expected: tuple[int, int]) -> None:
    table = load()
    states = {**file_states(table), "payments": RouteState(Mode.CANARY, weight)}
    rule = httproute_export(table, states)["spec"]["rules"][3]
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [("monolith", expected[0]), ("payments", expected[1])]
    assert sum(b["weight"] for b in rule["backendRefs"]) == 100


def test_gateway_store_states_win_over_the_file() -> None:
    table = load()
    states = {"payments": RouteState(Mode.SERVICE, 100), "refunds": RouteState(Mode.MONOLITH, 0)}
    rules = httproute_export(table, states)["spec"]["rules"]
    assert [r["backendRefs"] for r in rules[:3]] == [[MONOLITH], [{"name": "notifications", "port": 8004}],
                                                     [PAYMENTS]]
    assert not any(f["type"] == "RequestMirror" for r in rules for f in r["filters"])


def test_gateway_shadow_mirrors_and_gives_the_service_no_weight() -> None:
    table = load()
    rules = httproute_export(table, file_states(table))["spec"]["rules"]
    shadow = [r for r in rules if r["matches"][0]["path"]["value"] == "/api/v1/payments/refunds"]
    assert all(r["backendRefs"] == [MONOLITH] for r in shadow)
    mirrors = [f["requestMirror"]["backendRef"] for r in shadow for f in r["filters"] if f["type"] == "RequestMirror"]
    assert mirrors == [PAYMENTS]
    assert {m.get("method") for m in shadow[0]["matches"]} == {"GET", "HEAD", "OPTIONS"}
    assert shadow[1]["matches"] == [prefix("/api/v1/payments/refunds")]  # writes, TRACE: answered, not mirrored


def test_gateway_shadow_with_methods_and_a_dry_run_header() -> None:
    """The strangler mirrors a POST with its dry-run header; a Gateway cannot add the header to
    the mirror alone, so the POST is not mirrored, and the annotation says so."""
    text = table_text().replace('mode = "shadow"', 'mode = "shadow"\nmethods = ["GET", "POST"]\n'
                                                   'shadow = { dry_run_header = "X-Dry-Run" }')
    table = load(text)
    document = httproute_export(table, file_states(table))
    rules = document["spec"]["rules"]
    assert rules[0]["matches"] == [prefix("/api/v1/payments/refunds", "GET")]
    assert rules[0]["filters"][-1] == {"type": "RequestMirror", "requestMirror": {"backendRef": PAYMENTS}}
    assert rules[1] == {"matches": [prefix("/api/v1/payments/refunds", "POST")], "filters": [STRIP],
                        "backendRefs": [MONOLITH]}
    assert "cannot add X-Dry-Run to the mirror only" in document["metadata"]["annotations"]["strangler.dev/not-expressed"]


def test_gateway_default_route_is_last_and_goes_to_the_monolith() -> None:
    table = load()
    rules = httproute_export(table, {})["spec"]["rules"]
    assert rules[-1]["matches"] == [prefix("/")] and rules[-1]["backendRefs"] == [MONOLITH]


def test_gateway_backends_come_from_host_names() -> None:
    text = table_text().replace("http://127.0.0.1:8002", "http://payments-svc.shop.svc.cluster.local:8000")
    assert default_backends(load(text))["payments"] == ("payments-svc", 8000)
    with pytest.raises(ExportError, match="no backend .* for target"):
        httproute_export(load(), {}, backends={"monolith": ("mono", 80)})


def test_gateway_refuses_more_rules_than_an_httproute_holds() -> None:
    routes = "".join(f'\n[[routes]]\nname = "r{i}"\nprefix = "/r{i}"\nservice = "orders"\n' for i in range(12))
    with pytest.raises(ExportError, match="an HTTPRoute holds at most 16"):
        httproute_export(load(table_text() + routes), {})


# -- nginx -------------------------------------------------------------------------------------
def test_nginx_config_equals_the_reviewed_golden_file() -> None:
    table = load()
    assert nginx_export(table, file_states(table), source="test") == (DATA / "export_nginx.conf").read_text()


def test_nginx_key_parts() -> None:
    table = load()
    text = nginx_export(table, file_states(table), source="test")
    # segment boundaries: the prefix itself and what is below it, never /api/v1/paymentsX
    assert "    location = /api/v1/payments {\n" in text and "    location /api/v1/payments/ {\n" in text
    assert 'split_clients "$strangler_payments_cohort" $strangler_payments_canary {\n' \
           "    25% strangler_payments;\n    * strangler_monolith;\n}" in text
    assert 'map $http_authorization $strangler_payments_cohort {\n    default "h:$http_authorization";\n' \
           '    "" "ip:$remote_addr";\n}' in text
    assert "mirror /_strangler/mirror/refunds;" in text
    assert "proxy_pass http://$strangler_refunds_shadow$request_uri;" in text
    assert "    POST strangler_payments;" not in text  # POST is not mirrored without a dry-run header
    assert 'map $http_x_api_version $strangler_notifications_upstream {\n    default strangler_monolith;\n' \
           '    "~^2$" strangler_notifications;\n}' in text
    assert "    location / {\n" in text
    assert 'proxy_set_header X-Internal-Credential "";' in text
    assert "payments must\n# accept this gateway through its own credential" in text
    assert "MurmurHash2" in text and "not the same users" in text


@pytest.mark.parametrize(("weight", "upstream", "timeouts"), [(0, "strangler_monolith", ("1s", "30s")),
                                                             (100, "strangler_payments", ("500ms", "10s"))])
def test_nginx_canary_edges_need_no_split(weight: int, upstream: str, timeouts: tuple[str, str]) -> None:
    """0 % and 100 % send everyone to one side, with that target's timeouts."""
    table = load()
    text = nginx_export(table, {**file_states(table), "payments": RouteState(Mode.CANARY, weight)})
    assert "\nsplit_clients " not in text
    tunnel = "        error_page 418 = @strangler_payments_tunnel;\n        if ($strangler_upgrade) {\n" \
             "            return 418;\n        }\n"
    assert f"    location = /api/v1/payments {{\n{tunnel}        proxy_connect_timeout {timeouts[0]};\n" \
           f"        proxy_read_timeout {timeouts[1]};\n        proxy_pass http://{upstream};\n" in text
    assert "    location @strangler_payments_tunnel {\n" \
           f"        proxy_connect_timeout {timeouts[0]};\n        proxy_read_timeout 300s;\n" \
           f"        proxy_send_timeout 300s;\n        proxy_pass http://{upstream};\n" in text


def test_nginx_method_filter_falls_through_to_the_shorter_route() -> None:
    """A route limited to POST under the canary: other methods fall through to the canary."""
    text = table_text() + ('\n[[routes]]\nname = "capture"\nprefix = "/api/v1/payments/capture"\n'
                           'service = "orders"\nmode = "service"\nmethods = ["POST"]\n')
    table = load(text)
    out = nginx_export(table, file_states(table))
    assert "map $request_method $strangler_capture_upstream {\n    default $strangler_payments_canary;\n" \
           "    POST strangler_orders;\n}" in out
    assert "    limit_except " not in out  # limit_except would answer 403 instead of falling through


def test_nginx_shadow_with_dry_run_mirrors_every_method_with_the_header() -> None:
    text = table_text().replace('mode = "shadow"', 'mode = "shadow"\nshadow = { dry_run_header = "X-Dry-Run" }')
    table = load(text)
    out = nginx_export(table, file_states(table))
    assert "proxy_set_header X-Dry-Run $strangler_dry_run;" in out
    assert "proxy_pass http://strangler_payments$request_uri;" in out
    assert 'map $request_method $strangler_dry_run {\n    default 1;\n    GET "";' in out


def test_nginx_cookie_cohorts() -> None:
    for cookie, source in (("uid", "$cookie_uid"), ("session-id", "$strangler_payments_cookie")):
        table = load(table_text().replace('"header:authorization"', f'"cookie:{cookie}"'))
        out = nginx_export(table, file_states(table))
        assert f"map {source} $strangler_payments_cohort {{" in out
    assert r'"~(?:^|;)\s*session-id=(?<strangler_c2>[^;]*)" $strangler_c2;' in out


def nginx_conf(tmp: Path, snippet: str, *, daemon: bool = False) -> Path:
    """A minimal nginx.conf around the snippet; logs, pid and temp files inside `tmp`."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed (/usr/sbin/nginx): `apt-get install nginx` (.ci/run installs it)")
    (tmp / "strangler.conf").write_text(snippet)
    temps = "\n".join(f"    {k}_temp_path {tmp}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp / "nginx.conf"
    conf.write_text(f"""daemon {"on" if daemon else "off"};
worker_processes 1;
error_log {tmp}/error.log;
pid {tmp}/nginx.pid;
events {{}}
http {{
    access_log off;
{temps}
    include {tmp}/strangler.conf;
}}
""")
    return conf


# Everything that needs quoting or escaping: nested filters on shared prefixes, a cookie name that
# no $cookie_ variable can hold, header values with quotes, '$', ';' and braces, an IPv6 upstream,
# added headers, a dry-run shadow, long route names.
HOSTILE = r"""
[targets.monolith]
url = "http://127.0.0.1:8001"
add_headers = { "X-Gateway" = "edge \"one\"\\two" }
[targets.svc-a]
url = "http://[::1]:8002"
add_headers = { "x-gateway" = "svc" }
pool_size = 0
[[routes]]
name = "a-very-long-route-name-that-goes-on-and-on"
prefix = "/odd;path{x}/deeper"
service = "svc-a"
mode = "canary"
weight = 33
cohort = "cookie:session-id"
methods = ["GET", "PROPFIND"]
header = { name = "x-tenant", value = "a \"b\" $c;{}\\ \u00e9" }
[[routes]]
name = "A-very-long-route-name-that-goes-on-and-on"
prefix = "/odd;path{x}"
service = "svc-a"
mode = "shadow"
methods = ["POST", "GET"]
header = "x-beta: 1"
shadow = { dry_run_header = "X-Dry-Run" }
[[routes]]
name = "same-prefix"
prefix = "/odd;path{x}"
service = "svc-a"
mode = "service"
"""


@pytest.mark.integration
@pytest.mark.parametrize("text", [None, HOSTILE], ids=["table", "hostile"])
def test_nginx_t_accepts_the_generated_config(tmp_path: Path, text: str | None) -> None:
    table = load(text)
    conf = nginx_conf(tmp_path, nginx_export(table, file_states(table), source="test"))
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def request(port: int, method: str, path: str, **headers: str) -> tuple[int, str, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=b"{}" if method in ("POST", "PUT", "PATCH") else None,
                     headers={k.replace("_", "-"): v for k, v in headers.items()})
        response = conn.getresponse()
        body = response.read()
        return response.status, response.getheader("X-Upstream", ""), json.loads(body) if body else {}
    finally:
        conn.close()


@pytest.mark.integration
def test_nginx_runs_the_plan_against_real_upstreams(tmp_path: Path) -> None:
    procs: dict[str, tuple[subprocess.Popen[str], int]] = {}
    nginx: subprocess.Popen[bytes] | None = None
    try:  # everything started is stopped below, whatever fails first (nginx missing, say)
        procs.update((name, start_upstream(name)) for name in PORTS)
        listen = free_port()
        table = load(table_text(**{name: port for name, (_, port) in procs.items()}))
        conf = nginx_conf(tmp_path, nginx_export(table, file_states(table), listen=f"127.0.0.1:{listen}"))
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")])
        for _ in range(200):  # nginx is ready once it accepts connections
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                break
            except OSError:
                assert nginx.poll() is None, (tmp_path / "error.log").read_text()
                time.sleep(0.05)
        # canary: sticky per Authorization, about 25 % of the cohorts on the service
        sides = {t: request(listen, "GET", "/api/v1/payments/1", authorization=t)[1] for t in map(str, range(200))}
        assert set(sides.values()) == {"monolith", "payments"}
        assert 30 <= list(sides.values()).count("payments") <= 70
        assert all(request(listen, "GET", "/api/v1/payments", authorization=t)[1] == sides[t] for t in "0123456789")
        assert request(listen, "GET", "/api/v1/paymentsX")[1] == "monolith"  # not on a segment boundary
        # header filter, and falling through without it
        assert request(listen, "GET", "/api/v1/notifications/", x_api_version="2")[1] == "notifications"
        assert request(listen, "GET", "/api/v1/notifications/")[1] == "monolith"
        # shadow: the monolith answers; a GET is mirrored with X-Strangler-Shadow, a POST is not
        status, side, echo = request(listen, "POST", "/api/v1/payments/refunds/post-1",
                                     x_internal_credential="forged", x_forwarded_for="6.6.6.6")
        assert (status, side) == (200, "monolith")
        sent = {k.lower(): v for k, v in echo["headers"]}
        assert "x-internal-credential" not in sent and sent["x-forwarded-for"] == "127.0.0.1"
        assert request(listen, "GET", "/api/v1/payments/refunds/get-1")[1] == "monolith"
        payments_port = procs["payments"][1]
        for _ in range(100):
            hits = request(payments_port, "GET", "/_hits")[2]
            if "/api/v1/payments/refunds/get-1" in hits:
                break
            time.sleep(0.05)
        assert hits.get("/api/v1/payments/refunds/get-1") == 1
        assert "/api/v1/payments/refunds/post-1" not in hits
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=30)
        for proc, _ in procs.values():
            proc.kill()
            proc.wait()


# -- CLI ---------------------------------------------------------------------------------------
@pytest.mark.integration
def test_cli_exports_the_file_states_without_a_store(tmp_path: Path) -> None:
    config = tmp_path / "routes.toml"
    config.write_text(table_text(store=f"sqlite:///{tmp_path}/never-created.db"))
    result = cli(config, "export", "--format", "gateway", "--from-file")
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    table = load()
    expected = httproute_export(table, file_states(table), source=f"{config}, initial states")
    assert document == expected
    assert not (tmp_path / "never-created.db").exists()


@pytest.mark.integration
def test_cli_exports_the_store_states_after_a_flip(tmp_path: Path) -> None:
    config = tmp_path / "routes.toml"
    config.write_text(table_text(store=f"sqlite:///{tmp_path}/routes.db"))
    flip = cli(config, "set", "payments", "--mode", "canary", "--weight", "60", "--reason", "widen the canary")
    assert flip.returncode == 0, flip.stderr
    result = cli(config, "export", "--format", "gateway", "--namespace", "shop", "--gateway", "edge")
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["metadata"]["namespace"] == "shop" and document["spec"]["parentRefs"] == [{"name": "edge"}]
    assert document["metadata"]["annotations"]["strangler.dev/source"].endswith("states of the store at version 2")
    assert document["spec"]["rules"][3]["backendRefs"] == [{**MONOLITH, "weight": 40}, {**PAYMENTS, "weight": 60}]

    out = tmp_path / "nginx.conf"
    result = cli(config, "export", "--format", "nginx", "--out", str(out))
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert "    60% strangler_payments;\n" in out.read_text()
    from_file = cli(config, "export", "--format", "nginx", "--from-file")
    assert "    25% strangler_payments;\n" in from_file.stdout


@pytest.mark.integration
def test_cli_export_errors_are_messages(tmp_path: Path) -> None:
    config = tmp_path / "routes.toml"
    config.write_text(table_text().replace('"header:authorization"', '"header:x.user"'))
    result = cli(config, "export", "--format", "nginx", "--from-file")
    assert result.returncode == 2
    assert result.stderr == "strangler: error: route payments: nginx cannot read header 'x.user' (cohort)\n"
    bad = cli(config, "export", "--format", "yaml", "--from-file")
    assert bad.returncode == 2 and "invalid choice: 'yaml'" in bad.stderr
