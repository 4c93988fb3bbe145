"""The dashboard's route table as HTML: one row per target of each route, with inline SVG charts.

Route names, paths, reasons and diff samples come from operators, clients and upstreams: every
value goes through esc(). No inline style attributes (the page's Content-Security-Policy forbids
them): sizes are SVG attributes and colours are CSS classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

SPARK_W, SPARK_H = 200, 44


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def routes_table(data: dict[str, Any]) -> str:
    head = ("<thead><tr><th>Route</th><th>Mode</th><th>Target</th><th class=num>Requests</th><th>Split</th>"
            "<th class=num>5xx</th><th class=num>p50 / p95</th><th>Breaker</th><th class=num>Tunnels</th>"
            "<th>Requests/s, 5 min</th>"
            "<th>Shadow</th><th>Contracts</th></tr></thead>")
    flips: dict[str, list[float]] = {}  # seconds ago of each route's changes, marked on its chart
    for entry in data.get("history", ()):
        flips.setdefault(entry["route"], []).append(data["generated_at"] - entry["at"])
    body = "".join(_route_rows(route, flips.get(route["name"], [])) for route in data["routes"])
    return f'<table class="routes" id="routes-table">{head}{body}</table>'


def _route_rows(route: dict[str, Any], flips: list[float]) -> str:
    traffic = route.get("traffic") or {}
    targets = traffic.get("targets") or {t: {} for t in route["breakers"]} or {"monolith": {}}
    span = len(targets)
    name = esc(route["name"])
    service = f"service {esc(route['service'])}" if route["service"] else "no service"
    rows = []
    for i, (target, stats) in enumerate(targets.items()):
        cells = []
        if i == 0:
            cells.append(
                f'<td rowspan={span} class=route><strong>{name}</strong><code>{esc(route["prefix"])}</code>'
                f"<small>{service}</small></td>"
                f'<td rowspan={span} data-mode="{esc(route["mode"])}">{mode_badge(route)}</td>'
            )
        cells.append(_target_cells(target, i, stats, route["breakers"].get(target)))
        side = "monolith" if target == "monolith" else "service"
        open_tunnels = (route.get("tunnels") or {}).get(side, 0)
        cells.append(f'<td class=num data-tunnels="{open_tunnels}">{open_tunnels or "–"}</td>')
        if i == 0:
            cells.append(f"<td rowspan={span}>{sparkline(traffic.get('series') or {}, flips)}"
                         f"{_fallbacks(traffic)}</td>")
            cells.append(f"<td rowspan={span} class=shadow>{shadow_cell(route)}</td>")
            cells.append(f"<td rowspan={span} class=contracts>{contract_cell(route.get('contracts'))}</td>")
        first = " class=first" if i == 0 else ""
        rows.append(f'<tr{first} data-route="{name}" data-target="{esc(target)}">{"".join(cells)}</tr>')
    if route.get("shadow") is not None:
        rows.append(f"<tr class=samples><td colspan=12>{shadow_samples(route)}</td></tr>")
    return f'<tbody data-route="{name}">{"".join(rows)}</tbody>'


def mode_badge(route: dict[str, Any]) -> str:
    mode = route["mode"]
    text = f"{mode} {route['weight']}%" if mode == "canary" else mode
    pending = ' <small class=pending title="this replica applies it next">applying</small>'
    if route.get("applied", True):
        pending = ""
    return f'<span class="badge mode-{esc(mode)}">{esc(text)}</span>{pending}'


def _target_cells(target: str, index: int, stats: dict[str, Any], breaker: str | None) -> str:
    requests = stats.get("requests", 0)
    share = stats.get("share", 0.0)
    rate = stats.get("error_rate")
    p50, p95 = stats.get("p50_ms"), stats.get("p95_ms")
    latency = f"{_ms(p50)} / {_ms(p95)}" if p50 is not None else "–"
    err_class = " bad" if rate else ""
    breaker_html = f'<span class="badge breaker-{esc(breaker)}">{esc(breaker)}</span>' if breaker else "–"
    return (
        f'<td class=target><span class="dot s{min(index, 2)}"></span>{esc(target)}</td>'
        f'<td class=num data-requests="{requests}">{requests}<small>{stats.get("rps", 0):.2f}/s</small></td>'
        f"<td>{split_bar(share, index)}<small>{share * 100:.0f}%</small></td>"
        f'<td class="num{err_class}">{_pct(rate)}</td>'
        f"<td class=num>{latency}</td>"
        f"<td>{breaker_html}</td>"
    )


def split_bar(share: float, index: int, width: int = 90) -> str:
    filled = max(0.0, min(1.0, share)) * width
    return (f'<svg class=bar width="{width}" height="10" viewBox="0 0 {width} 10" aria-hidden="true">'
            f'<rect class=track width="{width}" height="10" rx="2"/>'
            f'<rect class="fill s{min(index, 2)}" width="{filled:.1f}" height="10" rx="2"/></svg>')


def sparkline(series: dict[str, Any], flips: Sequence[float] = ()) -> str:
    """Requests/s per target (coloured lines) and 5xx/s of all targets (red) over the kept history,
    with a vertical mark where the route was flipped (`flips`: seconds ago)."""
    targets: dict[str, dict[str, list[float]]] = series.get("targets") or {}
    lines = [(f"s{min(i, 2)}", values.get("rps", [])) for i, values in enumerate(targets.values())]
    n = max((len(v) for _, v in lines), default=0)
    errors = [sum(at) for at in zip(*(v.get("errors", []) for v in targets.values()), strict=False)]
    if n < 2:
        return '<span class=muted>collecting…</span>'
    top = max([1.0, *(max(v) for _, v in lines if v), *errors])
    paths = "".join(f'<polyline class="line {cls}" points="{_points(v, n, top)}"/>' for cls, v in lines if v)
    if any(errors):
        paths += f'<polyline class="line err" points="{_points(errors, n, top)}"/>'
    label = f'<text x="{SPARK_W - 2}" y="10" class=axis text-anchor="end">{top:.1f}/s</text>'
    seconds = series.get("seconds") or 0
    for ago in flips:
        if 0 <= ago < seconds:
            x = SPARK_W * (1 - ago / seconds)
            paths += (f'<line class=flip x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{SPARK_H}">'
                      "<title>route changed</title></line>")
    base = f'<line class=base x1="0" y1="{SPARK_H - 1}" x2="{SPARK_W}" y2="{SPARK_H - 1}"/>'
    return (f'<svg class=spark width="{SPARK_W}" height="{SPARK_H}" viewBox="0 0 {SPARK_W} {SPARK_H}" '
            f'role="img" aria-label="requests per second">{base}{paths}{label}</svg>'
            f'<small class=muted>last {seconds:.0f} s</small>')


def _points(values: list[float], n: int, top: float) -> str:
    offset = n - len(values)  # a target first seen later starts later
    step = SPARK_W / (n - 1)
    usable = SPARK_H - 14
    return " ".join(f"{(offset + i) * step:.1f},{SPARK_H - 1 - usable * v / top:.1f}"
                    for i, v in enumerate(values))


def _fallbacks(traffic: dict[str, Any]) -> str:
    n = traffic.get("fallbacks") or 0
    return f'<small class=warn>{n} fallbacks to the monolith</small>' if n else ""


def shadow_cell(route: dict[str, Any]) -> str:
    shadow = route.get("shadow")
    window = (route.get("traffic") or {}).get("shadow") or {}
    if shadow is None and not window.get("compared"):
        return '<span class=muted>not shadowed</span>'
    diff, noise = window.get("diff_rate"), window.get("noise_rate")
    bad = " bad" if diff else ""
    head = (f'<span class="rate{bad}">diff {_pct(diff)}</span> vs <span class=rate>noise {_pct(noise)}</span>'
            f'<small>{window.get("compared", 0)} compared, {window.get("dropped", 0)} dropped</small>')
    if shadow is not None:
        total = shadow["total"]
        head += (f'<small>since start: {total["diffs"]} diffs, {total["noise"]} noise of '
                 f'{total["compared"]}</small>')
    return head


def shadow_samples(route: dict[str, Any]) -> str:
    """A full-width row under a shadowed route: the latest differing requests and field values."""
    shadow = route["shadow"]
    recent = shadow.get("recent") or []
    requests = "".join(_sample_row(d) for d in recent)
    values = "".join(
        f'<tr><td><code>{esc(v.get("field"))}</code></td><td><code>{esc(_short(v.get("monolith")))}</code>'
        f'</td><td><code>{esc(_short(v.get("service")))}</code></td></tr>' for v in shadow.get("values", ()))
    noisy = ", ".join(f"<code>{esc(f)}</code>" for f in shadow.get("noisy_fields") or []) or "none seen yet"
    summary = (f'Shadow samples of {esc(route["name"])}: {len(recent)} latest differing requests'
               if recent else f'Shadow samples of {esc(route["name"])}: no differences kept')
    return (f'<details data-key="shadow-{esc(route["name"])}"><summary>{summary}</summary><div class=samples>'
            f'<table class=mini><thead><tr><th>Path</th><th class=num>Status (monolith → service)</th>'
            f'<th>Differing fields</th></tr></thead><tbody>{requests}</tbody></table>'
            f'<table class=mini><thead><tr><th>Field</th><th>Monolith</th><th>Service</th></tr></thead>'
            f'<tbody>{values}</tbody></table></div><p class=muted>Noise (fields that differ between two '
            f'monolith answers, not counted as diffs): {noisy}</p></details>')


def _sample_row(diff: dict[str, Any]) -> str:
    status = diff.get("status") or [None, None]
    service = status[1] if status[1] is not None else "no answer"
    fields = ", ".join(f"<code>{esc(f)}</code>" for f in diff.get("fields") or [])
    error = f' <span class=bad>{esc(diff["error"])}</span>' if diff.get("error") else ""
    return (f'<tr><td><code>{esc(_short(diff.get("path"), 90))}</code></td>'
            f"<td class=num>{esc(status[0])} → {esc(service)}</td><td>{fields}{error}</td></tr>")


def contract_cell(contracts: dict[str, Any] | None) -> str:
    if contracts is None:
        return '<span class=muted>–</span>'
    state = contracts.get("state", "missing")
    return (f'<span class="badge contract-{esc(state.replace(" ", "-"))}">{esc(state)}</span>'
            f'<small>{esc(contracts.get("message"))}</small>')


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _short(value: object, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
