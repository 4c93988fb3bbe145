"""The route table as an nginx configuration (an ``http {}``-level snippet) for a team that runs
the same plan on the nginx it already has.

Pure: a table and its states in, config text out. The strangler's semantics are kept where nginx
can hold them: prefixes on path-segment boundaries (``location = P`` plus ``location P/``), method
and header filters that fall through to the next shorter route (chained ``map``s, not
``limit_except``, which would answer 403 instead of falling through), sticky canary cohorts
(``split_clients``), shadow mirrors of exactly the methods the strangler mirrors (``mirror`` plus
an internal location), forwarded headers, WebSocket tunnels (the Upgrade and Connection a route
allows, sent on to a named location with the tunnel's idle timeout). What nginx cannot do is said
in the file's header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from strangler.export.gateway import CREDENTIAL_HEADER, GATEWAY_METHODS, ExportError
from strangler.proxy.types import MONOLITH, SAFE_METHODS, Mode, Route, RouteState, RouteTable, Target

MIRROR_PREFIX = "/_strangler/mirror/"
TUNNEL_STATUS = 418  # an internal status only: `return` it to reach a route's @..._tunnel location
NO_IDLE_LIMIT = 86400.0  # nginx always times a tunnel out: a day stands for the strangler's "no limit" (0)
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_$.-]+$")
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9/._~%:@!*+,=-]+$")
_VAR_HEADER = re.compile(r"^[A-Za-z0-9-]+$")  # what a $http_ variable can name
_VAR_COOKIE = re.compile(r"^[A-Za-z0-9_]+$")  # what a $cookie_ variable can name
_REGEX_SAFE = re.compile(r"[A-Za-z0-9_/:=@,%-]")

HEADER = """\
# The strangler's route plan as nginx configuration: `strangler export --format nginx`.
# Source: {source}
# Include it at the http {{}} level; adjust listen and server_name.
#
# The same as the strangler: longest prefix on path-segment boundaries; method and header filters
# that fall through to the next shorter route (maps, not limit_except, which would answer 403);
# canary by weight with sticky cohorts; shadow mirrors of the methods the strangler mirrors, with
# X-Strangler-Shadow and the dry-run header; forwarded headers replaced, hop-by-hop ones dropped.
# Not the same, so nobody is surprised:
# - cohorts: split_clients hashes with MurmurHash2, the strangler with CRC32 % 100. Cohorts are
#   sticky here too, but they are not the same users: moving a canary between the two re-deals them.
# - no fallback to the monolith, no retries, no circuit breaker (an upstream of one server is never
#   marked down), no comparison of mirrored answers, no signed overrides (X-Strangler-Override is
#   dropped), no traceparent started (a client's is passed on); mirrors are not shed under load
#   and a client's next request on the connection waits for the mirror.
# - nginx matches the decoded, normalised URI; the strangler matches the raw path.
# - {mirror_prefix}* are internal locations: clients get 404 there.
{tunnels}"""

TUNNELS = """# - tunnels (WebSocket): an upgrade goes to the route's @..._tunnel location, whose proxy_read_timeout
#   is the tunnel's idle_timeout; no maximum lifetime, no caps on open tunnels, no drain on a flip (an
#   open tunnel stays where it is until it closes), never retried, never mirrored. An Upgrade the table
#   allows nowhere is dropped (plain HTTP; the strangler refuses it), and a route that does not allow
#   one answers nginx's own 400 page. An upstream's Upgrade header passes on answers other than a 101 too.
"""


def nginx_export(
    table: RouteTable, states: Mapping[str, RouteState], *, listen: str = "80", server_name: str = "_",
    source: str = "",
) -> str:
    """The whole snippet: maps and split_clients, one upstream per target, one server."""
    return _Config(table.with_states(states)).render(listen, server_name, source or "route table")


def _upstream(target: str) -> str:
    return f"strangler_{target}"


def _seconds(value: float) -> str:
    ms = round(value * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _value(text: str) -> str:
    if text == "":
        return '""'
    return text if _PLAIN_VALUE.match(text) else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _path(text: str) -> str:
    return text if _PLAIN_PATH.match(text) else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex_literal(text: str) -> str:
    """`text` for a PCRE pattern in a quoted nginx string: unusual characters as \\x{..} escapes,
    which neither nginx's quoting nor PCRE reads as anything else."""
    if any(ord(c) > 0xFF for c in text):
        raise ExportError(f"{text!r}: the strangler compares headers as latin-1 bytes; this cannot be one")
    return "".join(c if _REGEX_SAFE.match(c) else f"\\x{{{ord(c):x}}}" for c in text)


def _exact_regex(text: str) -> str:
    """A case-sensitive map key matching exactly `text` (plain map strings compare ignoring case)."""
    return f'"~^{_regex_literal(text)}$"'


def _covers(outer: str, inner: str) -> bool:
    return outer == "/" or inner == outer or inner.startswith(outer + "/")


class _Config:
    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self.maps: dict[str, list[str]] = {}  # variable -> its map/split_clients block, in first-use order
        self.idents: dict[str, str] = {}
        for i, route in enumerate(table.routes):
            ident = re.sub(r"[^a-z0-9_]", "_", route.name.lower())[:16]
            self.idents[route.name] = ident if ident not in self.idents.values() else f"{ident}_{i}"
        self.dry_run = sorted({r.shadow.dry_run_header for r in table.routes
                               if r.service and r.state.mode is Mode.SHADOW and r.shadow.dry_run_header})
        self.upgrades = sorted({u for r in table.routes for u in r.tunnel.upgrades})

    # -- what a route decides -------------------------------------------------------------
    def route_value(self, route: Route, kind: str) -> str:
        """The upstream a route sends to ("upstream"), or mirrors to ("mirror", "" for none)."""
        mode, service = route.state.mode, route.service
        if kind == "mirror":
            if service is None or mode is not Mode.SHADOW:
                return ""
            if route.shadow.dry_run_header:
                return _upstream(service)  # every method; all but GET, HEAD and OPTIONS carry the dry-run header
            var = f"strangler_{self.idents[route.name]}_shadow"
            self._map(var, "$request_method", [(m, _upstream(service)) for m in GATEWAY_METHODS
                                               if m in SAFE_METHODS], "", f"route {route.name}: mirrored methods")
            return "$" + var
        if service is None or mode in (Mode.MONOLITH, Mode.SHADOW):
            return _upstream(MONOLITH)
        if mode is Mode.SERVICE or route.state.weight >= 100:
            return _upstream(service)
        if route.state.weight <= 0:
            return _upstream(MONOLITH)
        return self._canary(route)

    def _canary(self, route: Route) -> str:
        ident, cohort = self.idents[route.name], route.cohort
        key = "$remote_addr"
        if cohort.source in ("header", "cookie"):
            if cohort.source == "header":
                if not _VAR_HEADER.match(cohort.name):
                    raise ExportError(f"route {route.name}: nginx cannot read header {cohort.name!r} (cohort)")
                source, tag = "$http_" + cohort.name.lower().replace("-", "_"), "h"
            else:
                source, tag = self._cookie(route), "c"
            key = f"$strangler_{ident}_cohort"
            self._map(key[1:], source, [('""', "ip:$remote_addr")], f"{tag}:{source}",
                      f"route {route.name}: cohort key, the client address when the {cohort.source} is missing",
                      raw_keys=True)
        var = f"strangler_{ident}_canary"
        if var not in self.maps:
            self.maps[var] = [
                f"# route {route.name}: canary {route.state.weight}% of cohorts to {route.service} (MurmurHash2)",
                f'split_clients "{key}" ${var} {{',
                f"    {route.state.weight}% {_upstream(route.service or MONOLITH)};",
                f"    * {_upstream(MONOLITH)};",
                "}",
            ]
        return "$" + var

    def _cookie(self, route: Route) -> str:
        name = route.cohort.name
        if _VAR_COOKIE.match(name):
            return "$cookie_" + name
        var = f"strangler_{self.idents[route.name]}_cookie"
        group = f"strangler_c{list(self.idents).index(route.name)}"  # PCRE names are at most 32 long
        self._map(var, "$http_cookie", [(f'"~(?:^|;)\\s*{_regex_literal(name)}=(?<{group}>[^;]*)"', f"${group}")], "",
                  f"route {route.name}: cookie {name}", raw_keys=True)
        return "$" + var

    def pick(self, chain: list[Route], kind: str, base: str, depth: int = 0) -> str:
        """What the first route of `chain` whose filters hold decides: chained maps, the outermost
        one named `base`; a route whose filters do not change the outcome adds no map."""
        route = chain[0]
        own = self.route_value(route, kind)
        if len(chain) == 1 or (route.methods is None and route.header is None):
            return own
        other = self.pick(chain[1:], kind, base, depth + 1)
        if own == other:
            return other
        name = base if depth == 0 else f"{base}_{depth + 1}"
        inner = own
        if route.header is not None:
            header, value = route.header
            if not _VAR_HEADER.match(header):
                raise ExportError(f"route {route.name}: nginx cannot read header {header!r}")
            var = name if route.methods is None else name + "_header"
            self._map(var, "$http_" + header.replace("-", "_"), [(_exact_regex(value), inner)], other,
                      f"route {route.name}: {header}: {value}", raw_keys=True)
            inner = "$" + var
        if route.methods is not None:
            methods = sorted(route.methods)
            self._map(name, "$request_method", [(m, inner) for m in methods], other,
                      f"route {route.name}: methods {' '.join(methods)}")
            inner = "$" + name
        return inner

    def _map(self, var: str, source: str, entries: list[tuple[str, str]], default: str, comment: str,
             raw_keys: bool = False) -> None:
        if var in self.maps:
            return
        lines = [f"# {comment}", f"map {source} ${var} {{", f"    default {_value(default)};"]
        lines += [f"    {key if raw_keys else _value(key)} {_value(value)};" for key, value in entries]
        self.maps[var] = lines + ["}"]

    # -- rendering ---------------------------------------------------------------------------
    def render(self, listen: str, server_name: str, source: str) -> str:
        groups: dict[str, list[Route]] = {}
        for route in self.table.routes:
            groups.setdefault(route.prefix, []).append(route)
        locations: list[str] = []
        for prefix, members in groups.items():
            locations += self._locations(prefix, members)
        out = [HEADER.format(source=source, mirror_prefix=MIRROR_PREFIX, tunnels=TUNNELS if self.upgrades else "")]
        out.append("# Host as the client sent it; X-Request-ID kept when valid, else nginx's own.")
        out += ["map $http_host $strangler_host {", '    default $http_host;', '    "" $host;', "}"]
        out += ["map $http_x_request_id $strangler_request_id {", "    default $request_id;",
                '    "~^[A-Za-z0-9._-]{1,128}$" $http_x_request_id;', "}"]
        out += self._upgrade_maps()
        if self.dry_run:
            out += ["# Mirrors of methods other than GET, HEAD and OPTIONS carry the dry-run header, so the service does not commit.",
                    "map $request_method $strangler_dry_run {", "    default 1;"]
            out += [f'    {m} "";' for m in GATEWAY_METHODS if m in SAFE_METHODS] + ["}"]
        out += self._added_header_maps()
        for block in self.maps.values():
            out += [""] + block
        for target in self.table.targets.values():
            out += [""] + self._upstream_block(target)
        out += ["", "server {", f"    listen {listen};", f"    server_name {server_name};", ""]
        out += self._proxy_headers("    ", server=True) + [""] + locations[:-1] + ["}"]
        return "\n".join(out) + "\n"

    def _locations(self, prefix: str, members: list[Route]) -> list[str]:
        chain = [r for r in self.table.routes if _covers(r.prefix, prefix)]
        for i, route in enumerate(chain):
            if route.methods is None and route.header is None:
                chain = chain[: i + 1]
                break
        ident = self.idents[members[0].name]
        upstream = self.pick(chain, "upstream", f"strangler_{ident}_upstream")
        mirror = self.pick(chain, "mirror", f"strangler_{ident}_mirror")
        targets = self._reachable(chain)
        body = self._upgrade_checks(members[0], ident)
        body += [f"        mirror {MIRROR_PREFIX}{ident};"] if mirror else []
        body += self._timeouts(targets, "        ")
        body.append(f"        proxy_pass http://{upstream};")
        lines = [f"    # {_describe(r)}" for r in members]
        if prefix == "/":
            lines += ["    location / {"] + body + ["    }"]
        else:
            lines += [f"    location = {_path(prefix)} {{"] + body + ["    }"]
            lines += [f"    location {_path(prefix + '/')} {{"] + body + ["    }"]
        if mirror:
            lines += self._mirror_location(ident, mirror, chain)
        if self.upgrades and members[0].tunnel.upgrades:
            lines += self._tunnel_location(ident, upstream, targets, members[0])
        return lines + [""]

    # -- tunnels -----------------------------------------------------------------------------
    def _upgrade_maps(self) -> list[str]:
        """$strangler_upgrade: the protocol of an allowed Upgrade sent with "Connection: upgrade", else ""."""
        if not self.upgrades:
            return []
        out = ["# Upgrades (WebSocket tunnels): an Upgrade some route allows, sent with \"Connection: upgrade\".",
               'map "$http_upgrade:$http_connection" $strangler_upgrade {', '    default "";']
        out += [f'    "~*^{_regex_literal(u)}:(.*[ ,])?upgrade([ ,].*)?$" {_value(u)};' for u in self.upgrades]
        out += ["}", "map $strangler_upgrade $strangler_connection {", "    default upgrade;", '    "" "";', "}"]
        return out

    def _upgrade_checks(self, route: Route, ident: str) -> list[str]:
        """A location's first lines: refuse what its route does not allow, send the rest to its tunnel location."""
        if not self.upgrades:
            return []
        pad = "        "
        allowed = route.tunnel.upgrades
        if not allowed:
            return [f"{pad}if ($strangler_upgrade) {{", f"{pad}    return 400;", f"{pad}}}"]
        lines = []
        refused = [u for u in self.upgrades if u not in allowed]
        if refused:
            alternatives = "|".join(_regex_literal(u) for u in refused)
            lines += [f'{pad}if ($strangler_upgrade ~ "^({alternatives})$") {{', f"{pad}    return 400;", f"{pad}}}"]
        return lines + [f"{pad}error_page {TUNNEL_STATUS} = @strangler_{ident}_tunnel;",
                        f"{pad}if ($strangler_upgrade) {{", f"{pad}    return {TUNNEL_STATUS};", f"{pad}}}"]

    def _tunnel_location(self, ident: str, upstream: str, targets: list[Target], route: Route) -> list[str]:
        idle = _seconds(route.tunnel.idle_timeout or NO_IDLE_LIMIT)
        lines = [f"    # route {route.name}: tunnels (upgrades {', '.join(route.tunnel.upgrades)}), idle timeout {idle}",
                 f"    location @strangler_{ident}_tunnel {{"]
        if targets:
            lines.append(f"        proxy_connect_timeout {_seconds(max(t.connect_timeout for t in targets))};")
        lines += [f"        proxy_read_timeout {idle};", f"        proxy_send_timeout {idle};",
                  f"        proxy_pass http://{upstream};", "    }"]
        return lines

    def _mirror_location(self, ident: str, mirror: str, chain: list[Route]) -> list[str]:
        shadowed = [r for r in chain if r.service and r.state.mode is Mode.SHADOW]
        lines = [f"    location = {MIRROR_PREFIX}{ident} {{", "        internal;"]
        if mirror.startswith("$"):
            lines += [f'        if ({mirror} = "") {{', "            return 204;", "        }"]
        lines += self._proxy_headers("        ") + ["        proxy_set_header X-Strangler-Shadow 1;"]
        for header in sorted({r.shadow.dry_run_header for r in shadowed if r.shadow.dry_run_header}):
            lines.append(f"        proxy_set_header {header} $strangler_dry_run;")
        lines += self._timeouts([self.table.targets[r.service] for r in shadowed if r.service], "        ")
        return lines + [f"        proxy_pass http://{mirror}$request_uri;", "    }"]

    def _reachable(self, chain: list[Route]) -> list[Target]:
        names: list[str] = []
        for route in chain:
            mode, weight = route.state.mode, route.state.weight
            if route.service is None or mode in (Mode.MONOLITH, Mode.SHADOW) or (mode is Mode.CANARY and weight < 100):
                names.append(MONOLITH)
            if route.service and (mode is Mode.SERVICE or (mode is Mode.CANARY and weight > 0)):
                names.append(route.service)
        return [self.table.targets[n] for n in dict.fromkeys(names)]

    @staticmethod
    def _timeouts(targets: list[Target], pad: str) -> list[str]:
        if not targets:
            return []
        return [f"{pad}proxy_connect_timeout {_seconds(max(t.connect_timeout for t in targets))};",
                f"{pad}proxy_read_timeout {_seconds(max(t.read_timeout for t in targets))};"]

    def _proxy_headers(self, pad: str, server: bool = False) -> list[str]:
        """Request headers as the strangler sends them. A location that sets any proxy_set_header
        inherits none from the server, so the mirror location repeats them (without comments)."""
        if server and self.upgrades:
            connection = ['proxy_set_header Connection $strangler_connection;  # "upgrade" for an allowed upgrade, '
                          'else "" (keep-alive to upstreams); other hop-by-hop headers never pass',
                          "proxy_set_header Upgrade $strangler_upgrade;"]
        else:  # a mirror never upgrades
            connection = ['proxy_set_header Connection "";  # keep-alive to upstreams; hop-by-hop headers never pass']
        lines = [
            "proxy_http_version 1.1;",
            "proxy_set_header Host $strangler_host;",
            *connection,
            'proxy_set_header Proxy-Connection "";',
            'proxy_set_header Proxy-Authorization "";',
            'proxy_set_header Trailer "";',
            "proxy_set_header X-Forwarded-For $remote_addr;  # replaced, not appended: this is the edge",
            "proxy_set_header X-Forwarded-Proto $scheme;",
            "proxy_set_header X-Forwarded-Host $http_host;",
            'proxy_set_header Forwarded "";',
            "proxy_set_header X-Request-ID $strangler_request_id;",
            'proxy_set_header X-Strangler-Override "";',
            f'proxy_set_header {CREDENTIAL_HEADER} "";  # only the strangler can sign it: see the upstreams',
        ]
        lines += [f"proxy_set_header {name} ${var};" for name, var in self._added_headers()]
        if not server:
            return [pad + line.split("  #")[0] for line in lines]
        hidden = ("Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Trailer")
        if not self.upgrades:  # else a 101 must carry it, and nginx cannot hide it from other answers only
            hidden += ("Upgrade",)
        lines += [f"proxy_hide_header {h};" for h in hidden]
        lines.insert(0, "# Clients' headers with '_' in the name are dropped (nginx's default), like the strangler does.")
        return [pad + line for line in lines]

    def _added_headers(self) -> list[tuple[str, str]]:
        names = dict.fromkeys(k.lower() for t in self.table.targets.values() for k, _ in t.add_headers)
        return [(name, f"strangler_add_{i}") for i, name in enumerate(names)]

    def _added_header_maps(self) -> list[str]:
        """A target's add_headers: one map per header on $proxy_host (the upstream's name)."""
        out: list[str] = []
        for name, var in self._added_headers():
            out += [f"# {name}, added to requests of the targets that ask for it",
                    f"map $proxy_host ${var} {{", '    default "";']
            for target in self.table.targets.values():
                for key, value in target.add_headers:
                    if key.lower() == name:
                        if "$" in value:
                            raise ExportError(f"target {target.name} add_headers {key}: nginx cannot send a '$'")
                        out.append(f"    {_upstream(target.name)} {_value(value)};")
            out.append("}")
        return out

    def _upstream_block(self, target: Target) -> list[str]:
        host = f"[{target.host}]" if ":" in target.host else target.host
        lines = [f"# target {target.name}: http://{host}:{target.port}"]
        if target.credential_caller:
            lines += [
                f"# The strangler signs every request to {target.name} with {CREDENTIAL_HEADER} (caller "
                f"{target.credential_caller},",
                f"# secret ${target.credential_secret_env}); nginx cannot sign it and strips clients' copies. "
                f"{target.name} must",
                "# accept this gateway through its own credential, or it answers 401 to everything.",
            ]
        lines += [f"upstream {_upstream(target.name)} {{", f"    server {host}:{target.port};"]
        if target.pool_size:
            lines += [f"    keepalive {target.pool_size};", f"    keepalive_timeout {_seconds(target.idle_timeout)};"]
        return lines + ["}"]


def _describe(route: Route) -> str:
    state, filters = route.state, ""
    if route.methods is not None:
        filters += f", methods {' '.join(sorted(route.methods))}"
    if route.header is not None:
        filters += f", header {route.header[0]}: {route.header[1]}"
    if route.service is None:
        return f"route {route.name}: {route.prefix} to the monolith (default)"
    if state.mode is Mode.CANARY:
        where = f"canary {state.weight}% to {route.service}, sticky by {route.cohort.source} {route.cohort.name}"
    elif state.mode is Mode.SHADOW:
        where = f"shadow: the monolith answers, mirrored to {route.service}"
    else:
        where = f"{state.mode.value}: to {route.service if state.mode is Mode.SERVICE else MONOLITH}"
    return f"route {route.name}: {route.prefix} {where.rstrip()}{filters}"
